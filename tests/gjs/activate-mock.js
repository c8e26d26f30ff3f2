// The typelib is language-neutral: gjs (JavaScript) activates a license from
// the mock provider and sees Tessera's error domain. Run by ctest with
// GI_TYPELIB_PATH, LD_LIBRARY_PATH and TESSERA_PLUGIN_DIR set to the build tree.
imports.gi.versions.Tessera = '0';
const {GLib, Tessera} = imports.gi;
const System = imports.system;

function check(cond, what) {
    if (!cond) {
        printerr(`FAIL: ${what}`);
        System.exit(1);
    }
}

const dir = GLib.dir_make_tmp('tessera-gjs-XXXXXX');
const scenario = GLib.build_filenamev([dir, 'scenario.json']);
GLib.file_set_contents(scenario, JSON.stringify({
    products: ['KRE'],
    license: {id: 'gjs-1', entitlements: ['export'], attributes: {tier: 'gold'}},
}));
const engine = Tessera.Engine.new_from_data(
    `[engine]\nproviders=mock\n[provider:mock]\nscenario=${scenario}\n`, -1);

const license = engine.activate('KRE', null, null);
check(license.get_provider() === 'mock', 'granted by the mock');
check(license.get_id() === 'gjs-1', 'license id');
check(license.has_feature('export') && !license.has_feature('admin'), 'features');
check(license.get_attribute('tier') === 'gold', 'attribute');
check(license.get_kind() === Tessera.LicenseKind.FLOATING, 'kind');
check(license.release(null), 'release');

let caught = null;
try {
    engine.activate('OTHER', null, null);
} catch (e) {
    caught = e;
}
check(caught !== null, 'another product is refused');
check(caught.matches(Tessera.error_quark(), Tessera.Error.PRODUCT_MISMATCH),
    `error domain and code (${caught})`);

// Async activation in a main loop.
const loop = new GLib.MainLoop(null, false);
let asyncLicense = null;
engine.activate_async('KRE', null, null, (_source, result) => {
    asyncLicense = engine.activate_finish(result);
    loop.quit();
});
const timeout = GLib.timeout_add_seconds(GLib.PRIORITY_DEFAULT, 120, () => {
    loop.quit();
    return GLib.SOURCE_REMOVE;
});
loop.run();
check(asyncLicense !== null, 'async activation within 120 s');
GLib.source_remove(timeout);
check(asyncLicense.is_held(), 'async license held');
asyncLicense.release(null);

GLib.unlink(scenario);
GLib.rmdir(dir);
print('gjs: ok');
