"""Static files: each URL is worked out once per storage, and never outlives the settings it came from."""

import pytest
from django.contrib.staticfiles.storage import StaticFilesStorage as DjangoStaticFilesStorage
from django.templatetags.static import static
from django.test import override_settings

from investigations.core.static import ManifestStaticFilesStorage, _RemembersUrls


class _Counting(DjangoStaticFilesStorage):
    """Django's storage, counting the URLs it is asked to work out."""

    asked = 0

    def url(self, name, force=False):
        self.asked += 1
        return super().url(name)


class _Remembering(_RemembersUrls, _Counting):
    pass


def test_a_url_is_worked_out_once_and_a_forced_one_every_time(tmp_path):
    storage = _Remembering(location=tmp_path, base_url="/static/")
    assert [storage.url("css/portal.css") for _ in range(3)] == ["/static/css/portal.css"] * 3
    assert storage.url("js/a b.js") == "/static/js/a%20b.js"
    assert storage.asked == 2
    storage.url("css/portal.css", force=True)
    storage.url("css/portal.css", force=True)
    assert storage.asked == 4


def test_pages_follow_a_changed_static_url():
    assert static("css/portal.css") == "/static/css/portal.css"
    with override_settings(STATIC_URL="/assets/"):
        assert static("css/portal.css") == "/assets/css/portal.css"
    assert static("css/portal.css") == "/static/css/portal.css"


@override_settings(DEBUG=False)
def test_the_manifest_gives_hashed_names_and_a_missing_file_is_refused_each_time(tmp_path):
    (tmp_path / "site.css").write_text("body { color: black; }\n")
    writer = ManifestStaticFilesStorage(location=tmp_path, base_url="/static/")
    # What collectstatic does after copying: hash the files and write the manifest.
    list(writer.post_process({"site.css": (writer, "site.css")}))
    reader = ManifestStaticFilesStorage(location=tmp_path, base_url="/static/")
    hashed = reader.url("site.css")
    assert hashed.startswith("/static/site.") and hashed.endswith(".css") and hashed != "/static/site.css"
    assert reader.url("site.css") == hashed
    for _ in range(2):
        with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
            reader.url("missing.css")
