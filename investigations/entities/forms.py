from investigations.workspace.forms import ReasonFields


class EntityReasonForm(ReasonFields):
    """The reason an entity page is read for: asked outside an investigation, the case's inside one."""
