"""The test process's trust (tests/support/ca_directory.py): a CA bundle is swapped for OpenSSL's hashed directory
only when it is that directory's own bundle."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.ca_directory import trust_ca_directory


@pytest.fixture
def hashed(tmp_path: Path) -> Path:
    (tmp_path / "1a2b3c4d.0").write_text("a certificate, by its subject's hash")
    return tmp_path


def test_the_directorys_own_bundle_is_read_through_the_directory(hashed: Path, monkeypatch: pytest.MonkeyPatch) \
        -> None:
    monkeypatch.setenv("SSL_CERT_DIR", str(hashed))
    monkeypatch.setenv("SSL_CERT_FILE", str(hashed / "ca-certificates.crt"))
    trust_ca_directory()
    assert "SSL_CERT_FILE" not in os.environ
    assert os.environ["SSL_CERT_DIR"] == str(hashed)


def test_a_bundle_of_its_own_is_kept(hashed: Path, tmp_path_factory: pytest.TempPathFactory,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path_factory.mktemp("elsewhere") / "own-ca.pem"
    monkeypatch.setenv("SSL_CERT_DIR", str(hashed))
    monkeypatch.setenv("SSL_CERT_FILE", str(own))
    trust_ca_directory()
    assert os.environ["SSL_CERT_FILE"] == str(own)


def test_a_directory_without_hashed_certificates_changes_nothing(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    trust_ca_directory()
    assert "SSL_CERT_FILE" not in os.environ
