//! The system's MIDI ports through midir (the ALSA sequencer on Linux, CoreMIDI on macOS, WinMM
//! on Windows): listing them, and opening an input or an output by index or by part of its name,
//! or as a virtual port other programs connect to (Linux and macOS). The input callback runs on
//! midir's thread and only parses and pushes into a fixed-size lock-free queue (rtrb): it never
//! blocks or allocates.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{Message, MidiSink, MidiSource, Timed};
use crate::audio::device::quietly;
use crate::error::{Error, Result};

/// The client name Reprise shows to other MIDI programs.
const CLIENT: &str = "Reprise";
/// Messages the input queue holds before it drops (and counts) new ones.
const QUEUE: usize = 4096;

/// The one line for a machine without a MIDI system.
pub fn no_midi() -> Error {
    Error::Invalid(if cfg!(target_os = "linux") {
        "no MIDI system: the ALSA sequencer (/dev/snd/seq) is not available on this machine".into()
    } else {
        "no MIDI system is available on this machine".into()
    })
}

/// The names of the input and output ports, in index order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortList {
    /// Inputs (keyboards, other programs' outputs).
    pub inputs: Vec<String>,
    /// Outputs (synths, DAWs, other programs' inputs).
    pub outputs: Vec<String>,
}

/// Lists the ports, or says there is no MIDI system.
pub fn list() -> Result<PortList> {
    let input = quietly(|| midir::MidiInput::new(CLIENT)).map_err(|_| no_midi())?;
    let output = quietly(|| midir::MidiOutput::new(CLIENT)).map_err(|_| no_midi())?;
    Ok(PortList {
        inputs: input
            .ports()
            .iter()
            .filter_map(|p| input.port_name(p).ok())
            .collect(),
        outputs: output
            .ports()
            .iter()
            .filter_map(|p| output.port_name(p).ok())
            .collect(),
    })
}

/// The index of the port `wanted` names among `names`: a whole number is an index, anything else
/// the first port whose name contains it (ignoring case).
pub fn choose(names: &[String], wanted: &str, what: &str) -> Result<usize> {
    let found = match wanted.trim().parse::<usize>() {
        Ok(i) => (i < names.len()).then_some(i),
        Err(_) => {
            let w = wanted.to_lowercase();
            names.iter().position(|n| n.to_lowercase().contains(&w))
        }
    };
    found.ok_or_else(|| {
        let have = if names.is_empty() {
            "there are none".to_string()
        } else {
            format!("there are: {}", names.join(", "))
        };
        Error::Invalid(format!(
            "no MIDI {what} port {wanted:?} ({have}; `reprise ports` lists them)"
        ))
    })
}

/// Which port to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    /// An existing port, by index or part of its name.
    Named(String),
    /// A new port of this name that other programs connect to (Linux and macOS).
    Virtual(String),
}

impl PortSpec {
    /// A port as the user names it: `virtual:NAME` for a new port, else an index or part of a name.
    pub fn parse(s: &str) -> PortSpec {
        match s.strip_prefix("virtual:") {
            Some(name) => PortSpec::Virtual(name.into()),
            None => PortSpec::Named(s.into()),
        }
    }
}

/// An open input: the connection and the queue its callback fills.
pub struct SystemInput {
    _connection: midir::MidiInputConnection<()>,
    queue: rtrb::Consumer<Timed>,
    dropped: Arc<AtomicUsize>,
}

/// Opens the input `spec`; message times are seconds since `epoch` (the port's own microsecond
/// stamps, anchored to `epoch` when the first message arrives, so jitter in delivery does not
/// move them).
pub fn open_input(spec: &PortSpec, epoch: std::time::Instant) -> Result<SystemInput> {
    let input = quietly(|| midir::MidiInput::new(CLIENT)).map_err(|_| no_midi())?;
    let (mut producer, queue) = rtrb::RingBuffer::new(QUEUE);
    let dropped = Arc::new(AtomicUsize::new(0));
    let lost = Arc::clone(&dropped);
    let mut origin: Option<(u64, f64)> = None;
    let callback = move |stamp: u64, bytes: &[u8], _: &mut ()| {
        let (first, at) = *origin.get_or_insert_with(|| (stamp, epoch.elapsed().as_secs_f64()));
        if let Some(message) = Message::parse(bytes) {
            let time = at + stamp.saturating_sub(first) as f64 * 1e-6;
            if producer.push(Timed { time, message }).is_err() {
                lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    let connection = match spec {
        PortSpec::Named(wanted) => {
            let ports = input.ports();
            let names: Vec<String> = ports
                .iter()
                .map(|p| input.port_name(p).unwrap_or_default())
                .collect();
            let i = choose(&names, wanted, "input")?;
            input
                .connect(&ports[i], "reprise-in", callback, ())
                .map_err(|e| {
                    Error::Invalid(format!("cannot open MIDI input {:?}: {e}", names[i]))
                })?
        }
        PortSpec::Virtual(name) => virtual_input(input, name, callback)?,
    };
    Ok(SystemInput {
        _connection: connection,
        queue,
        dropped,
    })
}

#[cfg(unix)]
fn virtual_input(
    input: midir::MidiInput,
    name: &str,
    callback: impl FnMut(u64, &[u8], &mut ()) + Send + 'static,
) -> Result<midir::MidiInputConnection<()>> {
    use midir::os::unix::VirtualInput;
    input.create_virtual(name, callback, ()).map_err(|e| {
        Error::Invalid(format!(
            "cannot create the virtual MIDI input {name:?}: {e}"
        ))
    })
}

#[cfg(not(unix))]
fn virtual_input(
    _: midir::MidiInput,
    name: &str,
    _: impl FnMut(u64, &[u8], &mut ()) + Send + 'static,
) -> Result<midir::MidiInputConnection<()>> {
    Err(Error::Invalid(format!(
        "virtual MIDI ports ({name:?}) are not available on this platform: connect to a port instead"
    )))
}

impl MidiSource for SystemInput {
    fn poll(&mut self, out: &mut Vec<Timed>) {
        while let Ok(m) = self.queue.pop() {
            out.push(m);
        }
    }

    fn dropped(&self) -> usize {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// An open output.
pub struct SystemOutput {
    connection: midir::MidiOutputConnection,
    name: String,
}

impl SystemOutput {
    /// The port's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Opens the output `spec`.
pub fn open_output(spec: &PortSpec) -> Result<SystemOutput> {
    let output = quietly(|| midir::MidiOutput::new(CLIENT)).map_err(|_| no_midi())?;
    match spec {
        PortSpec::Named(wanted) => {
            let ports = output.ports();
            let names: Vec<String> = ports
                .iter()
                .map(|p| output.port_name(p).unwrap_or_default())
                .collect();
            let i = choose(&names, wanted, "output")?;
            let connection = output.connect(&ports[i], "reprise-out").map_err(|e| {
                Error::Invalid(format!("cannot open MIDI output {:?}: {e}", names[i]))
            })?;
            Ok(SystemOutput {
                connection,
                name: names[i].clone(),
            })
        }
        PortSpec::Virtual(name) => Ok(SystemOutput {
            connection: virtual_output(output, name)?,
            name: name.clone(),
        }),
    }
}

#[cfg(unix)]
fn virtual_output(output: midir::MidiOutput, name: &str) -> Result<midir::MidiOutputConnection> {
    use midir::os::unix::VirtualOutput;
    output.create_virtual(name).map_err(|e| {
        Error::Invalid(format!(
            "cannot create the virtual MIDI output {name:?}: {e}"
        ))
    })
}

#[cfg(not(unix))]
fn virtual_output(_: midir::MidiOutput, name: &str) -> Result<midir::MidiOutputConnection> {
    Err(Error::Invalid(format!(
        "virtual MIDI ports ({name:?}) are not available on this platform: connect to a port instead"
    )))
}

impl MidiSink for SystemOutput {
    fn send(&mut self, message: Message) -> Result<()> {
        self.connection
            .send(&message.bytes()[..message.byte_len()])
            .map_err(|e| Error::Invalid(format!("MIDI output {:?}: {e}", self.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_chosen_by_index_or_name() {
        let names = vec!["Midi Through:0".to_string(), "KeyStep 32:0".to_string()];
        assert_eq!(choose(&names, "1", "input").unwrap(), 1);
        assert_eq!(choose(&names, "keystep", "input").unwrap(), 1);
        let e = choose(&names, "9", "input").unwrap_err().to_string();
        assert!(e.contains("there are: Midi Through:0, KeyStep 32:0"), "{e}");
        let none = choose(&[], "x", "output").unwrap_err().to_string();
        assert!(
            none.contains("there are none") && !none.contains('\n'),
            "{none}"
        );
    }

    /// Without an ALSA sequencer (machines without a sound card, CI), listing says so in one line;
    /// with one, the list opens (an integration over a real virtual port is in tests/ports.rs).
    #[test]
    fn listing_works_or_says_why_not() {
        match list() {
            Ok(_) => {
                assert!(std::path::Path::new("/dev/snd/seq").exists() || !cfg!(target_os = "linux"))
            }
            Err(e) => assert!(e.to_string().starts_with("no MIDI system")),
        }
    }
}
