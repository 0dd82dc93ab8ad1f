"""Who signs: the studio's own local CA and signing certificate, or an organisation's chain.

On first start the engine creates, in ``<data-dir>/credentials/``, a local CA (P-256)
and a signing certificate it issues (``digitalSignature``, EKU ``emailProtection``, as
the C2PA trust-list rules ask of a claim signer: a self-signed leaf is refused by
readers). The CA's private key is thrown away once the certificate is issued, so the
one secret is ``signing-key.pem`` (mode 0600, directory 0700). It is read from disk
when signing and never put in an event, a table, a log line or an image. Readers trust
the studio's signatures when given ``trust-anchors.pem`` (every CA the studio has used;
a new pair is made, and its CA appended, when the certificate is within 30 days of expiry).

An organisation uses its own identity instead with environment variables:
``ASSETGEN_SIGNING_CHAIN`` (PEM: signing certificate first, then intermediates),
``ASSETGEN_SIGNING_KEY`` (PEM private key), ``ASSETGEN_TSA_URL`` (an RFC 3161 timestamp
authority) and ``ASSETGEN_TRUST_ANCHORS`` (PEM roots; default: the chain's last certificate).
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Authority", "CredentialOptions", "CredentialsError", "open_authority", "read_anchors",
           "credentials_dir", "DEFAULT_ORGANISATION", "KEY_FILE", "CHAIN_FILE", "ANCHORS_FILE"]

DEFAULT_ORGANISATION = "assetgen studio"
KEY_FILE, CHAIN_FILE, ANCHORS_FILE = "signing-key.pem", "signing-chain.pem", "trust-anchors.pem"
_LEAF_DAYS, _CA_DAYS, _RENEW_DAYS = 825, 3650, 30


class CredentialsError(RuntimeError):
    """The signing identity cannot be used; the message says which file or variable to fix."""


@dataclass(frozen=True, kw_only=True)
class CredentialOptions:
    organisation: str = DEFAULT_ORGANISATION
    chain_file: Path | None = None
    key_file: Path | None = None
    tsa_url: str | None = None
    anchors_file: Path | None = None

    @classmethod
    def from_env(cls, env: dict | None = None) -> "CredentialOptions":
        env = os.environ if env is None else env
        path = lambda name: Path(env[name]).expanduser() if env.get(name) else None  # noqa: E731
        return cls(organisation=env.get("ASSETGEN_ORGANISATION") or DEFAULT_ORGANISATION,
                   chain_file=path("ASSETGEN_SIGNING_CHAIN"), key_file=path("ASSETGEN_SIGNING_KEY"),
                   tsa_url=env.get("ASSETGEN_TSA_URL") or None, anchors_file=path("ASSETGEN_TRUST_ANCHORS"))


@dataclass(frozen=True)
class Authority:
    """A signing identity. Holds the key's *path*, never the key: it is read at signing time."""

    chain_pem: str
    key_path: Path
    anchors_pem: str
    algorithm: str  # es256 | es384 | es512 | ps256 | ed25519, as c2pa names them
    tsa_url: str | None = None
    source: str = "studio"  # studio | organisation
    organisation: str = DEFAULT_ORGANISATION
    subject: str = field(default="")

    def private_key_pem(self) -> bytes:
        return self.key_path.read_bytes()


def credentials_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "credentials"


def read_anchors(data_dir: Path, options: CredentialOptions | None = None) -> str | None:
    """The PEM roots a verifier trusts for this studio, without creating anything; None when there are none."""
    options = options or CredentialOptions.from_env()
    if options.anchors_file:
        return _read(options.anchors_file, "ASSETGEN_TRUST_ANCHORS")
    if options.chain_file:
        return _pem(_load_chain(options.chain_file)[-1])
    path = credentials_dir(data_dir) / ANCHORS_FILE
    return path.read_text() if path.is_file() else None


def open_authority(data_dir: Path, options: CredentialOptions | None = None) -> Authority:
    """The organisation's identity when configured, else the studio's (created on first use)."""
    options = options or CredentialOptions.from_env()
    if options.chain_file or options.key_file:
        return _organisation_authority(options)
    folder = credentials_dir(data_dir)
    if not (folder / KEY_FILE).is_file() or _expiring(folder / CHAIN_FILE):
        _create_studio_identity(folder, options.organisation)
    chain = (folder / CHAIN_FILE).read_text()
    leaf = x509.load_pem_x509_certificate(chain.encode())
    return Authority(chain_pem=chain, key_path=folder / KEY_FILE, anchors_pem=(folder / ANCHORS_FILE).read_text(),
                     algorithm="es256", source="studio", organisation=options.organisation,
                     subject=leaf.subject.rfc4514_string())


# -- an organisation's chain ------------------------------------------------------------------
def _read(path: Path, variable: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise CredentialsError(f"{variable} points at {path}, which cannot be read ({exc.strerror}): "
                               "fix the path or unset the variable") from None


def _load_chain(path: Path) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(_read(path, "ASSETGEN_SIGNING_CHAIN").encode())
    except ValueError:
        certs = []
    if not certs:
        raise CredentialsError(f"ASSETGEN_SIGNING_CHAIN ({path}) holds no PEM certificate: give the signing "
                               "certificate first, then its intermediates")
    return certs


def _algorithm(key) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(key.curve.name, "")
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    return ""


def _organisation_authority(options: CredentialOptions) -> Authority:
    if not (options.chain_file and options.key_file):
        raise CredentialsError("an organisation's signing identity needs both ASSETGEN_SIGNING_CHAIN and "
                               "ASSETGEN_SIGNING_KEY (set both, or neither to use the studio's own)")
    chain = _load_chain(options.chain_file)
    try:
        key = serialization.load_pem_private_key(options.key_file.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        raise CredentialsError(f"ASSETGEN_SIGNING_KEY ({options.key_file}) is not a readable, unencrypted PEM "
                               "private key") from None
    algorithm = _algorithm(key)
    if not algorithm:
        raise CredentialsError("ASSETGEN_SIGNING_KEY: use an EC P-256/P-384/P-521, RSA or Ed25519 key")
    if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            chain[0].public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise CredentialsError("ASSETGEN_SIGNING_KEY does not belong to the first certificate of "
                               "ASSETGEN_SIGNING_CHAIN: put the signing certificate first")
    anchors = _read(options.anchors_file, "ASSETGEN_TRUST_ANCHORS") if options.anchors_file else _pem(chain[-1])
    return Authority(chain_pem="".join(_pem(c) for c in chain), key_path=options.key_file, anchors_pem=anchors,
                     algorithm=algorithm, tsa_url=options.tsa_url, source="organisation",
                     organisation=options.organisation, subject=chain[0].subject.rfc4514_string())


# -- the studio's own local CA ----------------------------------------------------------------
def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _expiring(chain_path: Path) -> bool:
    try:
        leaf = x509.load_pem_x509_certificate(chain_path.read_bytes())
    except (OSError, ValueError):
        return True
    return leaf.not_valid_after_utc - dt.datetime.now(dt.timezone.utc) < dt.timedelta(days=_RENEW_DAYS)


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)])


def _usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signer, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=not signer,
                         crl_sign=not signer, encipher_only=False, decipher_only=False)


def _issue(organisation: str) -> tuple[x509.Certificate, x509.Certificate, bytes]:
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)  # tolerate a verifier's clock a little behind
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{organisation} local CA {now:%Y-%m-%d}", organisation)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(_usage(signer=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(_name(f"{organisation} content signing", organisation))
            .issuer_name(ca_name).public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=_LEAF_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(signer=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    key = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    return ca, leaf, key  # ca_key goes out of scope here: nobody can issue another certificate under this CA


def _create_studio_identity(folder: Path, organisation: str) -> None:
    """Write key, chain and anchors into a private temporary folder, then swap it in whole."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    old_anchors = (folder / ANCHORS_FILE).read_text() if (folder / ANCHORS_FILE).is_file() else ""
    ca, leaf, key = _issue(organisation)
    staging = Path(tempfile.mkdtemp(prefix=".credentials-", dir=folder.parent))  # mode 0700
    fd = os.open(staging / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    (staging / CHAIN_FILE).write_text(_pem(leaf) + _pem(ca))
    (staging / ANCHORS_FILE).write_text(old_anchors + _pem(ca))
    if folder.exists():  # renewal: keep the old folder aside until the new one is in place
        retired = folder.with_name(f".credentials-retired-{os.getpid()}")
        os.replace(folder, retired)
        os.replace(staging, folder)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        try:
            os.replace(staging, folder)
        except OSError:  # another process created it first: use theirs
            shutil.rmtree(staging, ignore_errors=True)
