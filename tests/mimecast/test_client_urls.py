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


def test_loopback_simulator_is_accepted_over_http_only_when_its_port_is_allow_listed():
    assert validate_base_url("http://127.0.0.1:8025", ("127.0.0.1:8025",)) == "http://127.0.0.1:8025"
    assert validate_base_url("http://localhost:9000", ("localhost:9000",)) == "http://localhost:9000"
    assert validate_base_url("http://[::1]:9000", ("[::1]:9000",)) == "http://[::1]:9000"
    assert validate_base_url("http://127.0.0.5:9000", ("127.0.0.5:9000",)) == "http://127.0.0.5:9000"
    with pytest.raises(MimecastConfigError):
        validate_base_url("http://127.0.0.1:8025", ("127.0.0.1:9999",))
    with pytest.raises(MimecastConfigError):
        validate_base_url("http://127.0.0.1:8025", ("localhost:8025",))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379",
        "http://127.0.0.1:5432",
        "http://127.0.0.1:8025",
        "http://127.0.0.1",
        "https://127.0.0.1:8443",
    ],
)
def test_a_bare_allow_listed_host_means_port_443_and_opens_no_other_port(url):
    with pytest.raises(MimecastConfigError):
        validate_base_url(url, ("127.0.0.1",))
    assert validate_base_url("https://127.0.0.1", ("127.0.0.1",)) == "https://127.0.0.1"
    assert validate_base_url("https://127.0.0.1:443", ("127.0.0.1",)) == "https://127.0.0.1"


@pytest.mark.parametrize(
    "entry", ["127.0.0.1:", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:abc", "http://x", "a:1:2"]
)
def test_a_malformed_allowed_host_entry_is_refused_with_a_plain_message(entry):
    with pytest.raises(MimecastConfigError) as excinfo:
        MimecastConfig(allowed_hosts=(entry,))
    assert "host:port" in str(excinfo.value)
    with pytest.raises(MimecastConfigError):
        MimecastConfig.from_env({"MIMECAST_ALLOWED_HOSTS": f"127.0.0.1:8025,{entry}"})


def test_a_non_loopback_allowed_host_may_not_use_plain_http():
    with pytest.raises(MimecastConfigError) as excinfo:
        validate_base_url("http://mimecast-proxy.corp.example:80", ("mimecast-proxy.corp.example:80",))
    assert "loopback" in str(excinfo.value)
    assert (
        validate_base_url("https://mimecast-proxy.corp.example:8443", ("mimecast-proxy.corp.example:8443",))
        == "https://mimecast-proxy.corp.example:8443"
    )
    with pytest.raises(MimecastConfigError):
        validate_base_url("https://mimecast-proxy.corp.example:8443", ("mimecast-proxy.corp.example",))


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


def _public(host):
    """A resolver for names the test treats as public (no DNS, no internet)."""
    return ["52.95.148.10", "2600:1f18::1"]


def _resolver(table):
    return lambda host: table.get(host, [])


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
        # Resolvable, https, port 443, but not a Mimecast or storage host.
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://us-api.mimecast.com.evil.example/f.gz",
        "https://evilmimecast.com/f.gz",
        "https://mimecast.com.evil.example/f.gz",
        "https://files.example.com/a.gz",
        "https://s3.amazonaws.com.evil.example/a.gz",
        "https://evil-s3.amazonaws.com.example/a.gz",
        "https://bucket.s3.amazonaws.co/a.gz",
        "https://mimecast-siem.s3.amazonaws.com:8443/a.gz",
        "http://mimecast-siem.s3.amazonaws.com/a.gz",
    ],
)
def test_it_refuses_a_download_link_to_an_unsafe_address(url):
    with pytest.raises(MimecastConfigError):
        validate_download_url(url, resolve=_public)


@pytest.mark.parametrize(
    "url",
    [
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://us-api.mimecast.com.evil.example/f.gz",
        "https://evilmimecast.com/f.gz",
    ],
)
def test_a_lookalike_or_internal_download_host_is_refused_by_its_name(url):
    # Refused before any DNS lookup: the name is not a Mimecast or storage host.
    with pytest.raises(MimecastConfigError) as excinfo:
        validate_download_url(url)
    assert "not a Mimecast or Mimecast storage host" in str(excinfo.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://mimecast-siem.s3.amazonaws.com/batch/1.gz?X-Amz-Signature=abc&X-Amz-Expires=60",
        "https://prod-siem-eu.s3.eu-west-2.amazonaws.com/batch/1.gz?X-Amz-Signature=abc",
        "https://bucket.s3-eu-west-1.amazonaws.com/batch/1.gz",
        "https://s3.us-east-1.amazonaws.com/bucket/batch/1.gz",
        "https://files.eu-api.mimecast.com/part?sig=1",
        "https://downloads.mimecast-pscom-us.com/part?sig=1",
    ],
)
def test_it_accepts_a_presigned_link_on_a_documented_host_that_resolves_to_public_addresses(url):
    assert validate_download_url(url, resolve=_public) == url


@pytest.mark.parametrize(
    "addresses",
    [
        ["169.254.169.254"],
        ["127.0.0.1"],
        ["10.1.2.3"],
        ["52.95.148.10", "192.168.0.7"],  # one private answer is enough to refuse
        ["::1"],
        ["::ffff:127.0.0.1"],
        ["fd00::1"],
        ["100.64.0.1"],
        ["0.0.0.0"],  # noqa: S104 - an answer to refuse, not a bind
        [],  # does not resolve
    ],
)
def test_a_documented_download_host_is_refused_when_it_resolves_to_a_non_public_address(addresses):
    host = "mimecast-siem.s3.amazonaws.com"
    with pytest.raises(MimecastConfigError) as excinfo:
        validate_download_url(f"https://{host}/batch/1.gz", resolve=_resolver({host: addresses}))
    assert host in str(excinfo.value)


def test_the_system_resolver_is_asked_when_no_resolver_is_given():
    from investigations.mimecast.urls import resolve_host

    # "localhost" resolves without the network; the check would refuse such an answer.
    assert "127.0.0.1" in resolve_host("localhost") or "::1" in resolve_host("localhost")
    assert resolve_host("name-that-does-not-exist.invalid") == []


def test_the_allow_listed_simulator_passes_the_download_check_on_its_own_port_only():
    assert validate_download_url("http://127.0.0.1:9000/f.gz", ("127.0.0.1:9000",)) == "http://127.0.0.1:9000/f.gz"
    for url in ("http://127.0.0.1:6379/f.gz", "http://127.0.0.1/f.gz", "https://127.0.0.1:5432/f.gz"):
        with pytest.raises(MimecastConfigError):
            validate_download_url(url, ("127.0.0.1:9000", "127.0.0.1"), resolve=_public)
