"""libtessera through GObject Introspection (PyGObject), as a product uses it.

ctest runs this with GI_TYPELIB_PATH and LD_LIBRARY_PATH pointing at the build
tree and TESSERA_PLUGIN_DIR at the built plugins (tests/CMakeLists.txt).
"""

import datetime
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import gi

gi.require_version("Tessera", "0")
from gi.repository import Gio, GLib, GObject, Tessera  # noqa: E402

# Waits for an event are bounded generously; nothing here asserts a duration.
DEADLINE_S = 120


def run_until(loop, done, what):
    """Runs @loop until done() is true, failing after DEADLINE_S."""
    timed_out = []

    def on_timeout():
        timed_out.append(True)
        loop.quit()
        return GLib.SOURCE_REMOVE

    source = GLib.timeout_add_seconds(DEADLINE_S, on_timeout)
    while not done() and not timed_out:
        loop.get_context().iteration(True)
    if not timed_out:
        GLib.source_remove(source)
    if timed_out:
        raise AssertionError(f"no {what} within {DEADLINE_S} s")


class TmpDirTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tessera-py-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def mock_engine(self, scenario):
        path = self.write("scenario.json", json.dumps(scenario))
        config = f"[engine]\nproviders=mock\n[provider:mock]\nscenario={path}\n"
        return Tessera.Engine.new_from_data(config, -1)


class TypesTest(unittest.TestCase):
    def test_boxed_and_enum_gtypes(self):
        for cls, name in [
            (Tessera.Engine, "TesseraEngine"),
            (Tessera.License, "TesseraLicense"),
            (Tessera.ActivateOptions, "TesseraActivateOptions"),
            (Tessera.Fingerprint, "TesseraFingerprint"),
            (Tessera.Licfile, "TesseraLicfile"),
            (Tessera.SigningKey, "TesseraSigningKey"),
            (Tessera.TrustedKeys, "TesseraTrustedKeys"),
            (Tessera.MachineMatch, "TesseraMachineMatch"),
        ]:
            self.assertEqual(cls.__gtype__.name, name)
            self.assertTrue(cls.__gtype__.is_a(GObject.TYPE_BOXED))
        self.assertEqual(Tessera.Error.__gtype__.name, "TesseraError")
        self.assertTrue(Tessera.LicenseFlags.__gtype__.is_a(GObject.TYPE_FLAGS))
        self.assertEqual(Tessera.LicenseKind.SESSION.value_nick, "session")
        # The enum nicks are the error nicks of JSON and the CLI.
        self.assertEqual(Tessera.Error.QUOTA_EXCEEDED.value_nick,
                         Tessera.error_to_nick(Tessera.Error.QUOTA_EXCEEDED))


class MockTest(TmpDirTest):
    SCENARIO = {
        "products": ["KRE"],
        "license": {
            "kind": "session",
            "id": "py-1",
            "org": "org-1",
            "entitlements": ["export", "reports"],
            "attributes": {"tier": "gold"},
        },
    }

    def test_activate_features_attributes(self):
        engine = self.mock_engine(self.SCENARIO)
        options = Tessera.ActivateOptions.new()
        options.set(Tessera.OPTION_ORG_ID, "org-1")
        self.assertEqual(options.get(Tessera.OPTION_ORG_ID), "org-1")
        lic = engine.activate("KRE", options, None)
        self.assertEqual(lic.get_product(), "KRE")
        self.assertEqual(lic.get_provider(), "mock")
        self.assertEqual(lic.get_id(), "py-1")
        self.assertEqual(lic.get_org(), "org-1")
        self.assertEqual(lic.get_kind(), Tessera.LicenseKind.SESSION)
        self.assertFalse(lic.get_flags() & Tessera.LicenseFlags.DEVELOPMENT)
        self.assertTrue(lic.has_feature("export"))
        self.assertFalse(lic.has_feature("admin"))
        self.assertEqual(lic.dup_features(), ["export", "reports"])
        self.assertEqual(lic.get_attribute("tier"), "gold")
        self.assertIsNone(lic.get_attribute("no-such-key"))
        self.assertIn("tier", lic.dup_attribute_keys())
        self.assertEqual(lic.get_activation_report(), "")
        self.assertTrue(lic.is_held())
        self.assertTrue(lic.validate(None))
        self.assertTrue(lic.release(None))
        self.assertFalse(lic.is_held())
        self.assertEqual(engine.dup_providers(), ["mock"])

    def test_errors_are_glib_errors_with_tessera_domain(self):
        engine = self.mock_engine(self.SCENARIO)
        with self.assertRaises(GLib.Error) as ctx:
            engine.activate("OTHER", None, None)
        err = ctx.exception
        self.assertEqual(err.domain, "tessera-error-quark")
        self.assertEqual(err.code, Tessera.Error.PRODUCT_MISMATCH)
        self.assertTrue(err.matches(Tessera.error_quark(), Tessera.Error.PRODUCT_MISMATCH))
        self.assertIn("OTHER", err.message)

        with self.assertRaises(GLib.Error) as ctx:
            Tessera.Engine.new_from_data("not a [config", -1)
        self.assertTrue(ctx.exception.matches(Tessera.error_quark(), Tessera.Error.CONFIG))

        # A scripted failure: the code the backend chose reaches Python.
        refusing = self.mock_engine({"ops": {"activate": {
            "error": "quota-exceeded", "message": "all 3 seats are taken"}}})
        with self.assertRaises(GLib.Error) as ctx:
            refusing.activate("KRE", None, None)
        self.assertEqual(ctx.exception.code, Tessera.Error.QUOTA_EXCEEDED)
        self.assertIn("all 3 seats are taken", ctx.exception.message)

    def test_async_activation_in_main_loop(self):
        engine = self.mock_engine(dict(self.SCENARIO, ops={"activate": {"delay_ms": 200}}))
        loop = GLib.MainLoop()
        results = []

        # The engine is a boxed type, not a GObject: the callback's source
        # object is None (as NULL in C); finish with the engine itself.
        def on_activated(source, result, data):
            self.assertIsNone(source)
            self.assertEqual(data, "token")
            try:
                results.append(engine.activate_finish(result))
            except GLib.Error as e:
                results.append(e)

        engine.activate_async("KRE", None, None, on_activated, "token")
        run_until(loop, lambda: results, "activation callback")
        lic = results[0]
        self.assertIsInstance(lic, Tessera.License)
        self.assertTrue(lic.has_feature("reports"))

        errors = []
        engine.activate_async("OTHER", None, None,
                              lambda s, r: self._finish_into(engine, r, errors))
        run_until(loop, lambda: errors, "failed activation callback")
        self.assertTrue(errors[0].matches(Tessera.error_quark(), Tessera.Error.PRODUCT_MISMATCH))

        # The main loop keeps running while a provider works: an activation
        # that would take a day ends only because an idle callback of the
        # loop cancels it (proved by the result, not by a clock).
        slow = self.mock_engine(dict(self.SCENARIO, ops={"activate": {"delay_ms": 86400000}}))
        cancellable = Gio.Cancellable()
        cancelled = []
        slow.activate_async("KRE", None, cancellable,
                            lambda s, r: self._finish_into(slow, r, cancelled))
        GLib.idle_add(lambda: cancellable.cancel() or GLib.SOURCE_REMOVE)
        run_until(loop, lambda: cancelled, "cancelled activation callback")
        self.assertTrue(cancelled[0].matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED))

        released = []
        lic.release_async(None, lambda s, r: released.append(lic.release_finish(r)))
        run_until(loop, lambda: released, "release callback")
        self.assertEqual(released, [True])

    def _finish_into(self, engine, result, out):
        try:
            out.append(engine.activate_finish(result))
        except GLib.Error as e:
            out.append(e)

    def test_invalidated_handler_fires_on_revocation(self):
        engine = self.mock_engine(dict(self.SCENARIO, ops={"validate": {
            "error": "revoked", "message": "revoked by the administrator"}}))
        lic = engine.activate("KRE", None, None)
        loop = GLib.MainLoop()
        fired = []
        handler = lic.add_invalidated_handler(
            lambda license, reason: fired.append((license, reason)))
        self.assertGreater(handler, 0)
        validated = []

        def on_validated(source, result):
            try:
                validated.append(lic.validate_finish(result))
            except GLib.Error as e:
                validated.append(e)

        lic.validate_async(None, on_validated)
        run_until(loop, lambda: validated and fired, "invalidated handler")
        self.assertTrue(validated[0].matches(Tessera.error_quark(), Tessera.Error.REVOKED))
        self.assertEqual(len(fired), 1)
        license, reason = fired[0]
        self.assertEqual(license.get_id(), "py-1")
        self.assertTrue(reason.matches(Tessera.error_quark(), Tessera.Error.REVOKED))
        self.assertIn("revoked by the administrator", reason.message)
        self.assertFalse(lic.is_held())
        # The handler is gone once it ran; removing it again says so.
        self.assertFalse(lic.remove_invalidated_handler(handler + 1000))

    def test_removed_handler_does_not_fire(self):
        engine = self.mock_engine(dict(self.SCENARIO, ops={"validate": {"error": "revoked"}}))
        lic = engine.activate("KRE", None, None)
        fired = []
        handler = lic.add_invalidated_handler(lambda license, reason: fired.append(reason))
        kept = []
        lic.add_invalidated_handler(lambda license, reason: kept.append(reason))
        self.assertTrue(lic.remove_invalidated_handler(handler))
        with self.assertRaises(GLib.Error):
            lic.validate(None)
        run_until(GLib.MainLoop(), lambda: kept, "remaining invalidated handler")
        self.assertEqual(fired, [])


class OfflineTest(TmpDirTest):
    """A node-locked license file issued with tessera-license, as an issuer
    would, and activated by the offline provider."""

    def setUp(self):
        super().setUp()
        self.tool = os.environ["TESSERA_LICENSE_TOOL"]
        self.license_dir = os.path.join(self.dir, "license")
        os.mkdir(self.license_dir)
        self.secret = os.path.join(self.dir, "issuer.sec")
        self.public = os.path.join(self.dir, "issuer.pub")
        subprocess.run([self.tool, "keygen", "--secret", self.secret, "--public", self.public],
                       check=True, stdout=subprocess.DEVNULL)
        self.config = (f"[engine]\nproviders=offline\n[provider:offline]\n"
                       f"license-dir={self.license_dir}\ntrusted-keys={self.public}\n"
                       f"state-dir={os.path.join(self.dir, 'state')}\n")

    def issue(self, machine_id, product="KRE", output=None):
        end = (datetime.date.today() + datetime.timedelta(days=365)).isoformat()
        subprocess.run([self.tool, "issue", "--key", self.secret, "--machine-id", machine_id,
                        "--product", product, "--subscription-end", end, "--org", "org-7",
                        "--entitlement", "export", "--entitlement", "render",
                        *(["--output", output] if output else ["--out", self.license_dir])],
                       check=True, stdout=subprocess.DEVNULL)

    def test_activate_offline_license_file(self):
        engine = Tessera.Engine.new_from_data(self.config, -1)
        machine_id = engine.dup_machine_id()
        self.assertTrue(Tessera.fingerprint_id_is_valid(machine_id))
        self.issue(machine_id)
        lic = engine.activate("KRE", None, None)
        self.assertEqual(lic.get_provider(), "offline")
        self.assertEqual(lic.get_kind(), Tessera.LicenseKind.NODE_LOCKED)
        self.assertTrue(lic.get_flags() & Tessera.LicenseFlags.OFFLINE)
        self.assertEqual(lic.get_machine_id(), machine_id)
        self.assertEqual(lic.get_org(), "org-7")
        self.assertEqual(lic.dup_features(), ["export", "render"])
        self.assertGreater(lic.get_expires_at(), lic.get_issued_at())
        self.assertTrue(lic.get_attribute("offline.file").endswith(".lic"))
        self.assertTrue(lic.validate(None))
        listed = engine.list_licenses("KRE")
        self.assertEqual([entry.get_id() for entry in listed], [lic.get_id()])
        self.assertTrue(lic.release(None))

    def test_offline_errors(self):
        engine = Tessera.Engine.new_from_data(self.config, -1)
        with self.assertRaises(GLib.Error) as ctx:
            engine.activate("KRE", None, None)
        self.assertTrue(ctx.exception.matches(Tessera.error_quark(), Tessera.Error.NOT_FOUND))
        # A file for another machine renamed to this machine's file name is
        # refused as tampered, naming both machines.
        name = Tessera.licfile_file_name("KRE", engine.dup_machine_id(), 0)
        self.issue("ABCD-EFGH-JKMN-PQRS", output=os.path.join(self.license_dir, name))
        with self.assertRaises(GLib.Error) as ctx:
            engine.activate("KRE", None, None)
        self.assertEqual(ctx.exception.code, Tessera.Error.TAMPERED)
        self.assertIn("renamed", ctx.exception.message)
        self.assertIn("ABCD-EFGH-JKMN-PQRS", ctx.exception.message)


class LicfileApiTest(TmpDirTest):
    """The signing and verifying API itself, from Python."""

    def test_keys_and_fingerprint(self):
        key = Tessera.SigningKey.generate()
        self.assertEqual(len(key.get_id()), 16)
        keys = Tessera.TrustedKeys.new()
        keys.add_public(key.dup_public())
        self.assertEqual(keys.get_count(), 1)
        with self.assertRaises(GLib.Error) as ctx:
            keys.add_public("not a key")
        self.assertEqual(ctx.exception.domain, "tessera-error-quark")
        fp = Tessera.Fingerprint.new()
        self.assertTrue(Tessera.fingerprint_id_is_valid(fp.get_id()))
        again = Tessera.Fingerprint.new_from_string(fp.to_string())
        self.assertEqual(fp.diff(again), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
