//! HPRIM header parsing and linting on arbitrary text, and the party split of what parses.
#![no_main]

use caducee_appliance::client::hprim;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    for problem in hprim::lint(text) {
        let _ = problem.to_string();
    }
    if let Ok(document) = hprim::parse(text) {
        let _ = hprim::split_party(&document.header.sender);
        let _ = hprim::split_party(&document.header.recipient);
    }
});
