//! MIDI ports (issue 24): `reprise ports` lists them or says in one line that the machine has no
//! MIDI system; where the ALSA sequencer exists, a note sent through a real virtual port arrives.

use reprise::ports::system::{list, open_input, open_output, PortSpec};
use reprise::ports::{Message, MidiSink, MidiSource};

mod common;
use common::{assert_bad_input, reprise};

fn has_sequencer() -> bool {
    !cfg!(target_os = "linux") || std::path::Path::new("/dev/snd/seq").exists()
}

#[test]
fn ports_are_listed_or_refused_in_one_line() {
    let out = reprise(&["ports"]);
    if has_sequencer() && out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("MIDI inputs:") && text.contains("MIDI outputs:"),
            "{text}"
        );
    } else {
        assert_bad_input(&out, "", "no MIDI system");
    }
}

#[test]
fn a_note_goes_through_a_virtual_port() {
    if !has_sequencer() || list().is_err() {
        eprintln!("skipped: no MIDI system on this machine (`reprise ports` says so)");
        return;
    }
    let mut out = open_output(&PortSpec::Virtual("reprise-test-port".into())).unwrap();
    let mut input = open_input(
        &PortSpec::Named("reprise-test-port".into()),
        std::time::Instant::now(),
    )
    .unwrap();
    let on = Message::NoteOn {
        channel: 0,
        pitch: 61,
        velocity: 99,
    };
    out.send(on).unwrap();
    let mut got = Vec::new();
    for _ in 0..200 {
        input.poll(&mut got);
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(got.first().map(|t| t.message), Some(on));
}
