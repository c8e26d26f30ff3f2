#!/usr/bin/python3
"""A product that checks its license from Python (PyGObject and Tessera-0.typelib):
activate KRE without blocking the main loop, gate a feature, watch for revocation.
Usage: product.py [CONFIG]. Exit status: 0 licensed, 1 not licensed, 2 bad setup."""
import sys

import gi

gi.require_version("Tessera", "0")
from gi.repository import GLib, Tessera  # noqa: E402

try:
    engine = Tessera.Engine.new(sys.argv[1] if len(sys.argv) > 1 else None)
except GLib.Error as e:  # TESSERA_ERROR_CONFIG, ...
    print(f"example: {e.message}", file=sys.stderr)
    sys.exit(2)
loop, status = GLib.MainLoop(), [2]


def on_activated(_source, result):
    try:
        lic = engine.activate_finish(result)
    except GLib.Error as e:
        status[0] = 1
        print(f"example: not licensed ({Tessera.error_to_nick(e.code)}): {e.message}", file=sys.stderr)
        return loop.quit()
    lic.add_invalidated_handler(lambda _lic, why: print(f"license no longer valid: {why.message}"))
    print(f"license: product={lic.get_product()} provider={lic.get_provider()} id={lic.get_id()}")
    print("feature 'reports':", "enabled" if lic.has_feature("reports") else "disabled")
    lic.release(None)
    print("released")
    status[0] = 0
    loop.quit()


engine.activate_async("KRE", None, None, on_activated)
loop.run()
sys.exit(status[0])
