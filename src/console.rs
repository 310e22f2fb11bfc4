//! Playback from the command line: a one-line status with the playhead, and keys (space pauses, ←/→
//! seek 5 s, q, Esc or Ctrl-C stop). Without a terminal it plays to the end; Ctrl-C still stops
//! cleanly, all notes off.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal;

use crate::audio::playback::Playback;

/// Seconds a left/right arrow moves the playhead.
pub const SEEK_STEP: f64 = 5.0;

/// Set by Ctrl-C when the terminal is not in raw mode.
fn interrupted() -> &'static Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        // Fails only if another handler was installed; then Ctrl-C keeps its default.
        let _ = ctrlc::set_handler(move || f.store(true, Ordering::Release));
        flag
    })
}

/// Installs the Ctrl-C handler early (e.g. before a long generation that plays as it goes), so an
/// interrupt stops playback cleanly instead of killing the process mid-buffer.
pub fn catch_interrupt() {
    let _ = interrupted();
}

/// True after Ctrl-C (outside raw mode).
pub fn was_interrupted() -> bool {
    interrupted().load(Ordering::Acquire)
}

/// A flag that Ctrl-C sets (outside raw mode), for a long job to poll: a watcher thread copies the
/// interrupt into it, so the job stops cleanly (e.g. generation while playing).
pub fn cancel_on_interrupt() -> Arc<AtomicBool> {
    catch_interrupt();
    let cancel = Arc::new(AtomicBool::new(false));
    let c = cancel.clone();
    std::thread::spawn(move || loop {
        if was_interrupted() {
            c.store(true, Ordering::Release);
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    });
    cancel
}

/// Leaves raw mode when dropped, also on panic.
struct RawMode;

impl RawMode {
    fn enter() -> Option<RawMode> {
        terminal::enable_raw_mode().ok().map(|_| RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = terminal::disable_raw_mode();
    }
}

/// Mm:ss.s
pub fn clock(seconds: f64) -> String {
    // Round to tenths first, so that 59.97 s is 1:00.0, not 0:60.0.
    let tenths = (seconds.max(0.0) * 10.0).round() as u64;
    format!("{}:{:02}.{}", tenths / 600, tenths % 600 / 10, tenths % 10)
}

/// Plays until the end, or until the user stops. `length` is the music's length in seconds (for the
/// status line); `quiet` hides the status line. Returns true if the user stopped early.
pub fn run(player: &dyn Playback, length: impl Fn() -> f64, quiet: bool) -> bool {
    catch_interrupt();
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let raw = if interactive { RawMode::enter() } else { None };
    let mut stopped = false;
    let mut err = std::io::stderr();
    while !player.is_done() {
        if was_interrupted() {
            stopped = true;
            break;
        }
        if raw.is_some() {
            if let Some(key) = next_key(Duration::from_millis(50)) {
                match key {
                    Key::Quit => {
                        stopped = true;
                        break;
                    }
                    Key::Pause => player.toggle_pause(),
                    Key::Seek(d) => player.seek(player.position() + d),
                }
            }
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
        if !quiet && interactive {
            let state = if player.is_paused() {
                "paused "
            } else {
                "playing"
            };
            let _ = write!(
                err,
                "\r{state} {} / {}   space pause · ←/→ seek {SEEK_STEP} s · q quit ",
                clock(player.position()),
                clock(length())
            );
            let _ = err.flush();
        }
    }
    drop(raw);
    if !quiet && interactive {
        let _ = writeln!(err);
    }
    stopped
}

enum Key {
    Quit,
    Pause,
    Seek(f64),
}

fn next_key(wait: Duration) -> Option<Key> {
    if !event::poll(wait).ok()? {
        return None;
    }
    let Event::Key(k) = event::read().ok()? else {
        return None;
    };
    if k.kind != KeyEventKind::Press {
        return None;
    }
    match k.code {
        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Some(Key::Quit),
        KeyCode::Char('q') | KeyCode::Esc => Some(Key::Quit),
        KeyCode::Char(' ') => Some(Key::Pause),
        KeyCode::Left => Some(Key::Seek(-SEEK_STEP)),
        KeyCode::Right => Some(Key::Seek(SEEK_STEP)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clock_reads_minutes_and_seconds() {
        assert_eq!(super::clock(0.0), "0:00.0");
        assert_eq!(super::clock(65.24), "1:05.2");
        // 59.97 s rounds to a whole minute, not 0:60.0.
        assert_eq!(super::clock(59.97), "1:00.0");
        assert_eq!(super::clock(-3.0), "0:00.0");
    }
}
