import pytest

from tidepool.domain.names import validate_ipv4, validate_workspace_name
from tidepool.errors import InvalidInputError


@pytest.mark.parametrize("name", ["test", "a", "my-workspace-2", "x" * 63, "a1-b2"])
def test_dns_safe_slugs_are_accepted(name: str) -> None:
    assert validate_workspace_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "required"),
        ("Test", "lowercase"),
        ("1abc", "lowercase letter first"),
        ("-abc", "lowercase letter first"),
        ("abc-", "hyphen"),
        ("a_b", "lowercase"),
        ("a.b", "lowercase"),
        ("a/b", "lowercase"),
        ("../etc", "lowercase"),
        ("a b", "lowercase"),
        ("x" * 64, "at most 63"),
        ("api", "reserved"),
        ("app", "reserved"),
        ("workspace", "reserved"),
        ("tést", "lowercase"),
        ("a\nb", "lowercase"),
        ("a;rm -rf /", "lowercase"),
    ],
)
def test_bad_names_are_refused_with_a_reason(name: str, why: str) -> None:
    with pytest.raises(InvalidInputError, match=why):
        validate_workspace_name(name)


@pytest.mark.parametrize("address", ["10.213.77.5", " 192.0.2.1 ", "127.0.0.1"])
def test_ipv4_addresses_are_accepted_and_normalised(address: str) -> None:
    assert validate_ipv4(address) == address.strip()


@pytest.mark.parametrize(
    "address",
    [
        "",
        "10.0.0",
        "10.0.0.256",
        "::1",
        "example.com",
        "0.0.0.0",
        "224.0.0.1",
        "10.0.0.1:8080",
        "10.0.0.1/24",
        "255.255.255.255",
    ],
)
def test_things_that_are_not_a_workspace_address_are_refused(address: str) -> None:
    with pytest.raises(InvalidInputError):
        validate_ipv4(address)
