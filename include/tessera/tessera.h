/* Tessera — licensing framework. The one header a product (or a backend) includes. */
#pragma once

#define TESSERA_INSIDE
#include <tessera/version.h>
#include <tessera/error.h>
#include <tessera/options.h>
#include <tessera/license.h>
#include <tessera/fingerprint.h>
#include <tessera/licfile.h>
#include <tessera/engine.h>
#include <tessera/backend.h>
#include <tessera/enum-types.h>
#undef TESSERA_INSIDE
