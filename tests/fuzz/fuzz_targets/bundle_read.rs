//! Reading and opening an installation bundle: arbitrary text, opened with a well-formed
//! installation code.
#![no_main]

use caducee_actors::bundle;
use libfuzzer_sys::fuzz_target;

/// The installation code of the seed bundle (tests/fuzz/corpus/bundle_read).
const CODE: &str = "1S34E-N2FXR-SKFWA-GCH58";

fuzz_target!(|text: &str| {
    let _ = bundle::read(text);
    let _ = bundle::open(text, CODE);
});
