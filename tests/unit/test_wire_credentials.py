"""Every credential form a client can send names a tenant of its own; one key names one tenant however it is sent;
no credential at all is the anonymous tenant, which no credentialed caller shares."""

from __future__ import annotations

import pytest

from gateway.wire.canonical import tenant_digest
from gateway.wire.credentials import ANONYMOUS, bearer_token, credentials_of, without_credentials


def tenant(*headers: tuple[str, str]) -> str:
    return credentials_of([(name.encode(), value.encode("latin-1")) for name, value in headers]).tenant()


@pytest.mark.parametrize(("value", "token"), [
    ("Bearer sk-one", "sk-one"), ("bearer sk-one", "sk-one"), ("BEARER   sk-one ", "sk-one"),
    ("Bearer ", None), ("Bearer", None), ("Bearer\tsk-one", None), ("Token sk-one", None),
    ("Basic dXNlcjpwYXNz", None), ("sk-one", None), ("", None),
])
def test_bearer_tokens_are_read_only_from_the_bearer_scheme(value: str, token: str | None) -> None:
    assert bearer_token(value) == token


def test_each_credential_form_is_its_own_tenant_and_none_is_anonymous() -> None:
    forms = [
        tenant(("authorization", "Bearer sk-one")),
        tenant(("authorization", "Bearer sk-two")),
        tenant(("authorization", "Basic dXNlcjpwYXNz")),
        tenant(("authorization", "Basic b3RoZXI6cGFzcw==")),
        tenant(("authorization", "Bearer\tsk-one")),
        tenant(("authorization", "Token sk-one")),
        tenant(("authorization", "sk-one x")),
        tenant(("authorization", "Bearer sk-one"), ("api-key", "sk-two")),  # two keys: neither one's tenant
        tenant(),
    ]
    assert len(set(forms)) == len(forms)
    assert forms[-1] == ANONYMOUS
    assert all("sk-one" not in name and "dXNlcjpwYXNz" not in name for name in forms)


def test_one_key_is_one_tenant_however_it_is_sent() -> None:
    same = {tenant(("authorization", "Bearer sk-one")), tenant(("api-key", "sk-one")),
            tenant(("x-api-key", "sk-one")), tenant(("authorization", "bearer  sk-one"))}
    assert same == {tenant_digest("sk-one")}


@pytest.mark.parametrize("headers", [
    [("authorization", "Bearer ")], [("authorization", "")], [("authorization", "  ")], [("api-key", "")],
    [("x-api-key", " ")], [("authorization", "Bearer"), ("api-key", "")],
])
def test_empty_credentials_count_as_none(headers: list[tuple[str, str]]) -> None:
    assert tenant(*headers) == ANONYMOUS


def test_credential_headers_are_removed_whatever_their_case() -> None:
    headers = [(b"Authorization", b"Bearer k"), (b"api-key", b"k"), (b"X-Api-Key", b"k"), (b"x-route", b"r")]
    assert without_credentials(headers) == [(b"x-route", b"r")]
