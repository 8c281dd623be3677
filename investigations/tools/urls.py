from django.urls import path

from investigations.tools import views as tools
from investigations.tools.logs import LOG_KINDS

urlpatterns = [
    path("", tools.tools_index, name="tools"),
    path("hash/", tools.hash_search, name="tools-hash-search"),
    path("decode/", tools.url_decode, name="tools-url-decode"),
    # Incident ids go in the query string: they are opaque tokens Mimecast may spell with any character.
    path("incident/", tools.incident_detail, name="tools-incident"),
    path("web-security/", tools.web_security, name="tools-web-security"),
    path("web-security/export.csv", tools.web_security_export, name="tools-web-security-export"),
]
for _slug in LOG_KINDS:
    urlpatterns += [
        # The held-message log is the hold queue, where held messages are picked for release or reject.
        path(
            f"{_slug}/", tools.held_queue if _slug == "held" else tools.log_page, {"kind": _slug}, name=f"tools-{_slug}"
        ),
        path(f"{_slug}/export.csv", tools.log_export, {"kind": _slug}, name=f"tools-{_slug}-export"),
    ]
