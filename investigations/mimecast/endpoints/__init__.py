"""The Mimecast API by group, one mixin each; ``MimecastClient`` combines them over the transport."""
