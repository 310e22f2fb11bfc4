#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets under fuzz/corpus/ (except model_folder's, which
`cargo run --example model_seeds` writes).

Needs python3 with numpy and soundfile (`pip install numpy soundfile`: its libsndfile encodes FLAC,
MP3 and Ogg Vorbis). Run from the repository root: `python3 fuzz/make_seeds.py`.
"""
import io
import math
import os
import struct
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def out(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- SoundFont

def chunk(cid, data):
    pad = b"\0" if len(data) % 2 else b""
    return cid + struct.pack("<I", len(data)) + data + pad


def riff_list(kind, body):
    return chunk(b"LIST", kind + body)


def name20(s):
    return s.encode().ljust(20, b"\0")[:20]


def tiny_sf2():
    """Two presets (a piano at 0:0, drums at 128:0) on one looping sine instrument with a
    velocity→attenuation modulator and a few generators."""
    n = 256
    samples = [int(12000 * math.sin(2 * math.pi * 4 * i / n)) for i in range(n)] + [0] * 46
    smpl = struct.pack("<%dh" % len(samples), *samples)
    info = (chunk(b"ifil", struct.pack("<HH", 2, 1)) + chunk(b"isng", b"EMU8000\0")
            + chunk(b"INAM", b"tiny\0\0"))
    phdr = (name20("Piano") + struct.pack("<HHHIII", 0, 0, 0, 0, 0, 0)
            + name20("Drums") + struct.pack("<HHHIII", 0, 128, 1, 0, 0, 0)
            + name20("EOP") + struct.pack("<HHHIII", 0, 0, 2, 0, 0, 0))
    pbag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 2, 0) + struct.pack("<HH", 3, 0)
    pmod = b"\0" * 10
    # preset zones: [reverbEffectsSend(16)=200, instrument(41)=0], [instrument(41)=0]
    pgen = (struct.pack("<Hh", 16, 200) + struct.pack("<HH", 41, 0)
            + struct.pack("<HH", 41, 0) + struct.pack("<HH", 0, 0))
    inst = name20("Sine") + struct.pack("<H", 0) + name20("EOI") + struct.pack("<H", 1)
    ibag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 6, 1)
    # velocity (src 0x0502) → initialAttenuation (48), 960 cB
    imod = struct.pack("<HHhHH", 0x0502, 48, 960, 0, 0) + b"\0" * 10
    igen = (struct.pack("<HBB", 43, 0, 127)          # keyRange 0–127
            + struct.pack("<Hh", 8, 9000)            # initialFilterFc
            + struct.pack("<Hh", 34, -2000)          # attackVolEnv
            + struct.pack("<Hh", 38, 1200)           # releaseVolEnv
            + struct.pack("<HH", 54, 1)              # sampleModes: loop
            + struct.pack("<HH", 53, 0)              # sampleID 0
            + struct.pack("<HH", 0, 0))
    shdr = (name20("sine") + struct.pack("<IIIIIBbHH", 0, n, 8, n - 8, 22050, 60, 0, 0, 1)
            + name20("EOS") + struct.pack("<IIIIIBbHH", 0, 0, 0, 0, 0, 0, 0, 0, 0))
    pdta = b"".join(chunk(c, d) for c, d in [
        (b"phdr", phdr), (b"pbag", pbag), (b"pmod", pmod), (b"pgen", pgen), (b"inst", inst),
        (b"ibag", ibag), (b"imod", imod), (b"igen", igen), (b"shdr", shdr)])
    body = b"sfbk" + riff_list(b"INFO", info) + riff_list(b"sdta", chunk(b"smpl", smpl)) \
        + riff_list(b"pdta", pdta)
    return chunk(b"RIFF", body)


def chunks(data, off, end):
    while off + 8 <= end:
        cid = data[off:off + 4]
        n = struct.unpack("<I", data[off + 4:off + 8])[0]
        yield cid, off + 8, n
        off += 8 + n + (n & 1)


def reduced_gm(path, keep=4096):
    """The shipped GM bank with its preset data intact but only `keep` samples of sample data, every
    sample header clamped into them: real presets and generators in ~210 KB."""
    b = open(path, "rb").read()
    lists = {}
    for cid, o, n in chunks(b, 12, len(b)):
        lists[b[o:o + 4]] = b[o + 4:o + n]
    smpl = None
    for cid, o, n in chunks(lists[b"sdta"], 0, len(lists[b"sdta"])):
        if cid == b"smpl":
            smpl = lists[b"sdta"][o:o + keep * 2]
    smpl += b"\0" * 92
    pdta = bytearray()
    for cid, o, n in chunks(lists[b"pdta"], 0, len(lists[b"pdta"])):
        data = bytearray(lists[b"pdta"][o:o + n])
        if cid == b"shdr":
            for at in range(0, len(data) - 46, 46):
                start, end, sl, el = struct.unpack_from("<IIII", data, at + 20)
                length = max(16, min(end - start, keep - 1))
                off = (start * 7) % (keep - length) if keep > length else 0
                s = off
                e = off + length
                ls = min(max(s, s + (sl - start)), e - 2)
                le = min(max(ls + 1, s + (el - start)), e)
                struct.pack_into("<IIII", data, at + 20, s, e, ls, le)
        pdta += chunk(cid, bytes(data))
    body = b"sfbk" + riff_list(b"INFO", lists[b"INFO"]) + riff_list(b"sdta", chunk(b"smpl", smpl)) \
        + riff_list(b"pdta", bytes(pdta))
    return chunk(b"RIFF", body)


# ---------------------------------------------------------------- audio

def tone(rate, seconds, channels=1):
    import numpy as np
    t = np.arange(int(rate * seconds)) / rate
    x = 0.4 * np.sin(2 * np.pi * 440 * t) * np.exp(-3 * t)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def wav_bytes(rate, channels, sampwidth, seconds):
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(sampwidth)
        w.setframerate(rate)
        frames = bytearray()
        for i in range(int(rate * seconds)):
            v = math.sin(2 * math.pi * 440 * i / rate) * 0.4
            for _ in range(channels):
                if sampwidth == 1:
                    frames += struct.pack("<B", int(128 + 127 * v))
                elif sampwidth == 2:
                    frames += struct.pack("<h", int(32767 * v))
                else:
                    frames += int(8388607 * v).to_bytes(3, "little", signed=True)
        w.writeframes(bytes(frames))
    return buf.getvalue()


def sf_bytes(fmt, subtype, rate, seconds, channels=1):
    import soundfile as sf
    buf = io.BytesIO()
    sf.write(buf, tone(rate, seconds, channels), rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def main():
    # MIDI files: the small samples.
    for f in sorted(os.listdir(os.path.join(ROOT, "samples"))):
        if f.endswith(".mid"):
            out("midi_read", f, open(os.path.join(ROOT, "samples", f), "rb").read())
    # SoundFonts
    out("sf2_load", "tiny.sf2", tiny_sf2())
    out("sf2_load", "gm-reduced.sf2", reduced_gm(os.path.join(ROOT, "soundfonts", "sf_GMbank.sf2")))
    # Recordings: the first byte picks the extension (0 wav, 1 flac, 2 mp3, 3 ogg).
    out("audio_decode", "mono16.wav", b"\0" + wav_bytes(8000, 1, 2, 0.05))
    out("audio_decode", "stereo8.wav", b"\0" + wav_bytes(11025, 2, 1, 0.03))
    out("audio_decode", "mono24.wav", b"\0" + wav_bytes(16000, 1, 3, 0.02))
    out("audio_decode", "float.wav", b"\0" + sf_bytes("WAV", "FLOAT", 8000, 0.03))
    out("audio_decode", "mono.flac", b"\1" + sf_bytes("FLAC", "PCM_16", 8000, 0.1))
    out("audio_decode", "stereo24.flac", b"\1" + sf_bytes("FLAC", "PCM_24", 16000, 0.05, 2))
    out("audio_decode", "mono.mp3", b"\2" + sf_bytes("MP3", "MPEG_LAYER_III", 16000, 0.2))
    out("audio_decode", "stereo.mp3", b"\2" + sf_bytes("MP3", "MPEG_LAYER_III", 44100, 0.1, 2))
    out("audio_decode", "mono.ogg", b"\3" + sf_bytes("OGG", "VORBIS", 8000, 0.2))
    # Chord files
    src = os.path.join(ROOT, "samples", "chords-ode-to-joy.txt")
    out("chord_file", "ode-to-joy.txt", open(src, "rb").read())
    out("chord_file", "labels.txt",
        b"0.0 2.0 C:maj\n2.0 4.0 A:min7\n4.0 5.5 Ab:min/b3\n5.5 6.0 N\n6.0 7.0 F#:sus4(b7)\n"
        b"7.0 8.0 B:hdim7\n8.0 9.0 G:7/3\n9.0 10.0 C:maj7/7\n10.0 11.0 D\n11.0 12.0 Eb:maj(9,*5)\n"
        b"12.0 13.0 X\n13.0 14.0 Cb:min6\n")
    out("chord_file", "crlf.txt", b"0\t1.5\tBb:7\r\n1.5\t3e0\tE:dim7\r\n\r\n3\t4.25\tG:minmaj7\r\n")
    # JSON configs: every model's config.json and every training config, plus a JSB chorale file.
    for d in sorted(os.listdir(os.path.join(ROOT, "models"))):
        p = os.path.join(ROOT, "models", d, "config.json")
        if os.path.isfile(p):
            out("json_config", "model-" + d + ".json", open(p, "rb").read())
    for f in sorted(os.listdir(os.path.join(ROOT, "configs"))):
        if f.endswith(".json"):
            out("json_config", "train-" + f, open(os.path.join(ROOT, "configs", f), "rb").read())
    out("json_config", "jsb.json",
        b'{"train": [[[74, 70, 65, 58], [74.0, 70, 65, 58], [75, 70, -1, 55]]],'
        b' "valid": [[[60, 55, 52, 48]]], "test": []}')


if __name__ == "__main__":
    main()
