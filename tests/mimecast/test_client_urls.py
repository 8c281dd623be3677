import pytest

from investigations.mimecast import MimecastClient, MimecastConfig, MimecastConfigError, validate_base_url
from investigations.mimecast.urls import MIMECAST_API_HOSTS, validate_download_url

REAL_HOSTS = [
    "api.mimecast.com",
    "eu-api.mimecast.com",
    "de-api.mimecast.com",
    "us-api.mimecast.com",
    "usb-api.mimecast.com",
    "uspcom-api.mimecast-pscom-us.com",
    "ca-api.mimecast.com",
    "za-api.mimecast.com",
    "au-api.mimecast.com",
    "je-api.mimecast.com",
    "jer-api.mimecast.com",
    "sandbox-api.mimecast.com",
    "api.services.mimecast.com",
    "us-api.services.mimecast.com",
    "uk-api.services.mimecast.com",
]

BAD_BASE_URLS = [
    "",
    "eu-api.mimecast.com",
    "http://eu-api.mimecast.com",
    "ftp://eu-api.mimecast.com",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "https:eu-api.mimecast.com",
    "https:/eu-api.mimecast.com",
    "https://eu-api.mimecast.com.evil.com",
    "https://eu-api-mimecast.com",
    "https://mimecast.com",
    "https://www.mimecast.com",
    "https://evil-eu-api.mimecast.com",
    "https://eu-api.mimecast.co",
    "https://eu-api.mimecast.com@evil.com",
    "https://user:pass@eu-api.mimecast.com",
    "https://evil.com#@eu-api.mimecast.com",
    "https://evil.com?@eu-api.mimecast.com",
    "https://evil.com\\@eu-api.mimecast.com",
    "https://eu-api.mimecast.com:8443",
    "https://eu-api.mimecast.com:80",
    "https://eu-api.mimecast.com:0",
    "https://eu-api.mimecast.com:99999",
    "https://eu-api.mimecast.com:abc",
    "https://169.254.169.254",
    "http://169.254.169.254/latest/meta-data",
    "https://127.0.0.1",
    "http://127.0.0.1:8000",
    "http://localhost:8000",
    "https://[::1]",
    "http://[::1]:8000",
    "https://2130706433",
    "https://0x7f000001",
    "https://0177.0.0.1",
    "https://127.1",
    "https://10.0.0.1",
    "https://eu-api.mimec\u0430st.com",  # Cyrillic a
    "https://xn--eu-api-mimecst-xyz.com",
    "https://eu-api.mimecast.com.",
    "https://eu-api.mimecast.com/api",
    "https://eu-api.mimecast.com//",
    "https://eu-api.mimecast.com/?x=1",
    "https://eu-api.mimecast.com?",
    "https://eu-api.mimecast.com#frag",
    "https://eu-api.mimecast.com%2eevil.com",
    "https://eu-api.mimecast.com/%2e%2e/",
    " https://eu-api.mimecast.com",
    "https://eu-api.mimecast.com ",
    "https://eu-api.mimecast.com\n",
    "https://eu-api.mimecast.com\t.evil.com",
    "https://",
    "https://:443",
    "https://[eu-api.mimecast.com]",
]


@pytest.mark.parametrize("url", BAD_BASE_URLS)
def test_it_refuses_a_base_url_that_is_not_a_mimecast_api_host(url):
    with pytest.raises(MimecastConfigError) as excinfo:
        validate_base_url(url)
    assert "not allowed" in str(excinfo.value)


def test_there_are_at_least_thirty_bad_url_cases():
    assert len(BAD_BASE_URLS) >= 30


@pytest.mark.parametrize("host", REAL_HOSTS)
def test_it_accepts_every_real_mimecast_api_host(host):
    assert validate_base_url(f"https://{host}") == f"https://{host}"
    assert validate_base_url(f"https://{host}/") == f"https://{host}"
    assert validate_base_url(f"https://{host}:443") == f"https://{host}"
    assert validate_base_url(f"HTTPS://{host.upper()}") == f"https://{host}"


def test_the_known_host_list_is_exactly_the_contract_list():
    assert set(REAL_HOSTS) == set(MIMECAST_API_HOSTS)


def test_loopback_simulator_is_accepted_over_http_only_when_allow_listed():
    assert validate_base_url("http://127.0.0.1:8025", ("127.0.0.1",)) == "http://127.0.0.1:8025"
    assert validate_base_url("http://127.0.0.1:8025", ("127.0.0.1:8025",)) == "http://127.0.0.1:8025"
    assert validate_base_url("http://localhost:9000", ("localhost",)) == "http://localhost:9000"
    assert validate_base_url("http://[::1]:9000", ("[::1]",)) == "http://[::1]:9000"
    assert validate_base_url("http://127.0.0.5:9000", ("127.0.0.5",)) == "http://127.0.0.5:9000"
    with pytest.raises(MimecastConfigError):
        validate_base_url("http://127.0.0.1:8025", ("127.0.0.1:9999",))
    with pytest.raises(MimecastConfigError):
        validate_base_url("http://127.0.0.1:8025", ("localhost",))


def test_a_non_loopback_allowed_host_may_not_use_plain_http():
    with pytest.raises(MimecastConfigError) as excinfo:
        validate_base_url("http://mimecast-proxy.corp.example", ("mimecast-proxy.corp.example",))
    assert "loopback" in str(excinfo.value)
    assert (
        validate_base_url("https://mimecast-proxy.corp.example:8443", ("mimecast-proxy.corp.example",))
        == "https://mimecast-proxy.corp.example:8443"
    )


def test_an_allow_listed_host_still_may_not_carry_userinfo_path_or_query():
    for url in (
        "http://user@127.0.0.1:8025",
        "http://127.0.0.1:8025/api",
        "http://127.0.0.1:8025/?a=b",
        "http://127.0.0.1.:8025",
    ):
        with pytest.raises(MimecastConfigError):
            validate_base_url(url, ("127.0.0.1", "127.0.0.1."))


def test_the_client_refuses_to_start_with_a_bad_base_url():
    config = MimecastConfig(
        api_version=2,
        base_url="https://api.services.mimecast.com.evil.com",
        client_id="id",
        client_secret="secret",
    )
    with pytest.raises(MimecastConfigError):
        MimecastClient(config)


@pytest.mark.parametrize(
    "url",
    [
        "http://files.example.com/a.gz",
        "https://169.254.169.254/latest",
        "https://127.0.0.1/a",
        "https://localhost/a",
        "https://user@files.example.com/a",
        "https://files.example.com:8080/a",
        "https://files.example.com./a",
        "https://intranet/a",
        "https://fi\u0142es.example.com/a",
    ],
)
def test_it_refuses_a_download_link_to_an_unsafe_address(url):
    with pytest.raises(MimecastConfigError):
        validate_download_url(url)


def test_it_accepts_a_presigned_https_download_link():
    url = "https://mimecast-siem.s3.amazonaws.com/batch/1.gz?X-Amz-Signature=abc&X-Amz-Expires=60"
    assert validate_download_url(url) == url
    assert validate_download_url("http://127.0.0.1:9000/f.gz", ("127.0.0.1",)) == "http://127.0.0.1:9000/f.gz"
