//! A small file picker: the MIDI files (or, to clone a timbre, the audio files) and folders of one
//! directory; ↑/↓ choose, Enter opens a file or enters a folder, Backspace goes up, Esc closes.

use std::path::{Path, PathBuf};

use super::types::Key;

/// What the picker lists besides folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Files {
    /// MIDI files, to open.
    #[default]
    Midi,
    /// Audio files (WAV, FLAC, MP3, Ogg), to clone a timbre from.
    Audio,
}

impl Files {
    /// Whether `path` is one of these files.
    pub fn matches(self, path: &Path) -> bool {
        match self {
            Files::Midi => is_midi(path),
            Files::Audio => crate::ops::play::is_audio_file(path),
        }
    }
}

/// The picker's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Picker {
    /// What it lists.
    pub files: Files,
    /// The directory shown.
    pub dir: PathBuf,
    /// Its entries: `..` first, then the files (see [`Files`]), then folders, each sorted.
    pub entries: Vec<Entry>,
    /// The highlighted entry.
    pub selected: usize,
    /// Set when the user closes the picker without a choice.
    pub closed: bool,
}

/// One line of the picker.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Shown name (folders end with `/`).
    pub name: String,
    /// Full path.
    pub path: PathBuf,
    /// True for folders.
    pub is_dir: bool,
}

fn is_midi(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("mid") || e.eq_ignore_ascii_case("midi"))
}

impl Picker {
    /// Lists the MIDI files and folders of `dir`.
    pub fn open(dir: &Path) -> Picker {
        Picker::list(dir, Files::Midi)
    }

    /// Lists the `files` and folders of `dir`.
    pub fn list(dir: &Path, files_kind: Files) -> Picker {
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut folders = Vec::new();
        let mut files = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.filter_map(|e| e.ok()) {
                let path = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                if path.is_dir() {
                    folders.push(Entry {
                        name: format!("{name}/"),
                        path,
                        is_dir: true,
                    });
                } else if files_kind.matches(&path) {
                    files.push(Entry {
                        name,
                        path,
                        is_dir: false,
                    });
                }
            }
        }
        folders.sort_by(|a, b| a.name.cmp(&b.name));
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let mut entries = Vec::new();
        if let Some(parent) = dir.parent() {
            entries.push(Entry {
                name: "../".into(),
                path: parent.to_path_buf(),
                is_dir: true,
            });
        }
        // Files first after `..`: what the user came for.
        entries.extend(files);
        entries.extend(folders);
        let selected = usize::from(entries.len() > 1 && entries[0].name == "../");
        Picker {
            files: files_kind,
            dir,
            entries,
            selected,
            closed: false,
        }
    }

    /// Handles a key; returns a chosen file.
    pub fn key(&mut self, key: Key) -> Option<PathBuf> {
        let n = self.entries.len();
        match key {
            Key::Up if n > 0 => self.selected = (self.selected + n - 1) % n,
            Key::Down if n > 0 => self.selected = (self.selected + 1) % n,
            Key::Esc | Key::Char('q') => self.closed = true,
            Key::Backspace | Key::Left => {
                if let Some(parent) = self.dir.parent() {
                    *self = Picker::list(parent, self.files);
                }
            }
            Key::Enter | Key::Right => {
                let e = self.entries.get(self.selected)?.clone();
                if e.is_dir {
                    *self = Picker::list(&e.path, self.files);
                } else {
                    return Some(e.path);
                }
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_midi_files_and_folders_and_opens_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.mid"), b"").unwrap();
        std::fs::write(dir.path().join("a.MIDI"), b"").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"").unwrap();
        std::fs::create_dir(dir.path().join("songs")).unwrap();
        std::fs::write(dir.path().join("songs").join("c.mid"), b"").unwrap();
        let mut p = Picker::open(dir.path());
        let names: Vec<&str> = p.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["../", "a.MIDI", "b.mid", "songs/"]);
        assert_eq!(p.selected, 1);
        assert_eq!(p.key(Key::Down), None);
        assert!(p.key(Key::Enter).unwrap().ends_with("b.mid"));
        p.key(Key::Down);
        assert_eq!(p.key(Key::Enter), None); // entered songs/
        assert!(p.dir.ends_with("songs"));
        assert!(p.key(Key::Enter).unwrap().ends_with("c.mid"));
        p.key(Key::Esc);
        assert!(p.closed);
    }

    #[test]
    fn the_audio_picker_lists_audio_files_and_keeps_its_kind_in_folders() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "take.wav",
            "b.FLAC",
            "c.mp3",
            "d.ogg",
            "song.mid",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        std::fs::create_dir(dir.path().join("more")).unwrap();
        std::fs::write(dir.path().join("more").join("e.wav"), b"").unwrap();
        let mut p = Picker::list(dir.path(), Files::Audio);
        let names: Vec<&str> = p.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["../", "b.FLAC", "c.mp3", "d.ogg", "take.wav", "more/"]
        );
        p.selected = 5;
        assert_eq!(p.key(Key::Enter), None);
        assert_eq!(p.files, Files::Audio);
        assert!(p.key(Key::Enter).unwrap().ends_with("e.wav"));
    }
}
