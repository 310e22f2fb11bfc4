//! Fuzzes the parsing of MIDI port messages (`reprise live`, `record`): any bytes give a message or
//! nothing, never a panic; a message written back parses to itself.
#![no_main]

#[path = "../common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use reprise::ports::Message;

fuzz_target!(init: common::install_panic_hook(), |data: &[u8]| {
    if let Some(m) = Message::parse(data) {
        let bytes = m.bytes();
        assert_eq!(Message::parse(&bytes[..m.byte_len()]), Some(m));
    }
});
