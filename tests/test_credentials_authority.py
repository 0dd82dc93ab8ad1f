"""The signing identity: a local CA and signing certificate made once, key private; or an organisation's chain."""
from __future__ import annotations

import datetime as dt
import stat

import pytest
from credentials_kit import c2pa_read
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from engine.credentials.authority import (ANCHORS_FILE, CHAIN_FILE, KEY_FILE, CredentialOptions, CredentialsError,
                                          credentials_dir, open_authority, read_anchors)
from engine.credentials.manifest import creation_manifest
from engine.credentials.sign import sign_image
from engine.providers.standin.render import render_image

pytestmark = pytest.mark.timeout(60)
STUDIO = CredentialOptions()  # no organisation variables, whatever the environment says


def test_first_open_creates_a_private_key_0600_in_a_0700_folder_and_reuses_it_after(tmp_path):
    first = open_authority(tmp_path, STUDIO)
    folder = credentials_dir(tmp_path)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / KEY_FILE).stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == sorted([KEY_FILE, CHAIN_FILE, ANCHORS_FILE])
    key = (folder / KEY_FILE).read_bytes()
    second = open_authority(tmp_path, STUDIO)
    assert (folder / KEY_FILE).read_bytes() == key and second.chain_pem == first.chain_pem
    assert "PRIVATE KEY" not in repr(first)  # the object holds a path, not the key


def test_the_signing_certificate_is_issued_by_the_local_ca_for_c2pa_claim_signing(tmp_path):
    authority = open_authority(tmp_path, STUDIO)
    leaf, ca = x509.load_pem_x509_certificates(authority.chain_pem.encode())
    assert leaf.issuer == ca.subject != leaf.subject  # not self-signed: readers refuse that
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert read_anchors(tmp_path, STUDIO) == ca.public_bytes(serialization.Encoding.PEM).decode()
    # only one private key was kept: the CA's was discarded after issuing
    assert sum(p.read_text().count("PRIVATE KEY-----") for p in credentials_dir(tmp_path).iterdir()) == 2


def test_a_certificate_close_to_expiry_is_replaced_and_the_old_ca_stays_trusted(tmp_path):
    open_authority(tmp_path, STUDIO)
    folder = credentials_dir(tmp_path)
    old_anchor = (folder / ANCHORS_FILE).read_text()
    leaf = x509.load_pem_x509_certificate((folder / CHAIN_FILE).read_bytes())
    # re-issue the same key with an expiry 10 days away, signed by a throwaway key: what matters is the date
    throwaway = ec.generate_private_key(ec.SECP256R1())
    soon = (x509.CertificateBuilder().subject_name(leaf.subject).issuer_name(leaf.issuer).public_key(leaf.public_key())
            .serial_number(1).not_valid_before(leaf.not_valid_before_utc)
            .not_valid_after(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=10)).sign(throwaway, hashes.SHA256()))
    (folder / CHAIN_FILE).write_bytes(soon.public_bytes(serialization.Encoding.PEM))
    renewed = open_authority(tmp_path, STUDIO)
    assert renewed.anchors_pem.startswith(old_anchor) and renewed.anchors_pem.count("BEGIN CERTIFICATE") == 2
    assert x509.load_pem_x509_certificate(renewed.chain_pem.encode()).not_valid_after_utc > \
        dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)


def _organisation(tmp_path):
    """An organisation's root, intermediate and signing certificate, as its PKI team would hand them over."""
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    name = lambda cn: x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),  # noqa: E731
                                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hearthstone")])
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    certs, issuer_key, issuer_name = [], keys[0], name("Hearthstone Root")
    for i, cn in enumerate(("Hearthstone Root", "Hearthstone Intermediate", "Hearthstone Content Signing")):
        leaf = i == 2
        builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(issuer_name)
                   .public_key(keys[i].public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
                   .add_extension(x509.BasicConstraints(ca=not leaf, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=leaf, content_commitment=False, key_encipherment=False,
                                                data_encipherment=False, key_agreement=False, key_cert_sign=not leaf,
                                                crl_sign=not leaf, encipher_only=False, decipher_only=False),
                                  critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(keys[i].public_key()), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                  critical=False))
        if leaf:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        certs.append(builder.sign(issuer_key, hashes.SHA256()))
        issuer_key, issuer_name = keys[i], name(cn)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    (tmp_path / "chain.pem").write_bytes(pem(certs[2]) + pem(certs[1]))
    (tmp_path / "root.pem").write_bytes(pem(certs[0]))
    (tmp_path / "key.pem").write_bytes(keys[2].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    return CredentialOptions(organisation="Hearthstone", chain_file=tmp_path / "chain.pem", key_file=tmp_path / "key.pem",
                             anchors_file=tmp_path / "root.pem")


def test_an_organisations_chain_signs_and_its_root_makes_the_signature_trusted(tmp_path):
    options = _organisation(tmp_path)
    authority = open_authority(tmp_path / "data", options)
    assert authority.source == "organisation" and not credentials_dir(tmp_path / "data").exists()
    signed = sign_image(render_image("a lantern", width=64, height=64, seed=1),
                        creation_manifest({"image_model": "m/x"}, title="x.png"), authority)
    store, state, _ = c2pa_read(signed, "image/png", read_anchors(tmp_path / "data", options))
    assert state == "Trusted"
    assert store["manifests"][store["active_manifest"]]["signature_info"]["common_name"] == "Hearthstone Content Signing"


def test_a_key_that_is_not_the_chains_or_half_a_configuration_is_refused_with_what_to_fix(tmp_path):
    options = _organisation(tmp_path)
    other = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "other.pem").write_bytes(other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    with pytest.raises(CredentialsError, match="does not belong to the first certificate"):
        open_authority(tmp_path, CredentialOptions(chain_file=options.chain_file, key_file=tmp_path / "other.pem"))
    with pytest.raises(CredentialsError, match="needs both ASSETGEN_SIGNING_CHAIN and ASSETGEN_SIGNING_KEY"):
        open_authority(tmp_path, CredentialOptions(chain_file=options.chain_file))
    with pytest.raises(CredentialsError, match="cannot be read"):
        open_authority(tmp_path, CredentialOptions(chain_file=tmp_path / "missing.pem", key_file=options.key_file))


def test_options_come_from_the_environment():
    options = CredentialOptions.from_env({"ASSETGEN_SIGNING_CHAIN": "/pki/chain.pem", "ASSETGEN_SIGNING_KEY": "/pki/k.pem",
                                          "ASSETGEN_TSA_URL": "http://tsa.example/", "ASSETGEN_ORGANISATION": "Hearthstone"})
    assert (str(options.chain_file), str(options.key_file), options.tsa_url, options.organisation) == \
        ("/pki/chain.pem", "/pki/k.pem", "http://tsa.example/", "Hearthstone")


def test_a_chain_the_c2pa_signer_refuses_stops_the_start_with_what_the_certificate_needs(tmp_path):
    from engine.credentials import StudioCredentials

    options = _organisation(tmp_path)
    # a self-signed leaf: readers and the signer refuse it
    key = serialization.load_pem_private_key(options.key_file.read_bytes(), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self")])
    now = dt.datetime.now(dt.timezone.utc)
    self_signed = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    options.chain_file.write_bytes(self_signed.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(CredentialsError, match="refused .*digitalSignature"):
        StudioCredentials.open(tmp_path / "data", options=options)


def test_a_seal_that_cannot_sign_keeps_the_image_unsigned_says_so_and_logs_why(tmp_path, caplog):
    import dataclasses

    from engine.credentials import SIGNING_FAILED, StudioCredentials

    credentials = StudioCredentials.open(tmp_path, options=STUDIO)
    credentials.authority = dataclasses.replace(credentials.authority, key_path=tmp_path / "gone.pem")
    seal = credentials.seal({"image_model": "m/x"}, title="x.png")
    image = render_image("a lantern", width=32, height=32, seed=1)
    assert seal(image) == image
    assert seal.status == SIGNING_FAILED
    assert any("gone.pem cannot be read" in r.getMessage() and "without Content Credentials" in r.getMessage()
               for r in caplog.records)
