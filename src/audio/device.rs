//! The system's audio output through cpal. ALSA's own complaints (e.g. "cannot find card '0'" on a
//! machine without a sound card) are captured instead of flooding the terminal; a missing or
//! unusable device becomes one clear error.

use std::sync::Arc;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::playback::{AudioSource, Output, Transport};
use crate::error::{Error, Result};

/// The message for a machine where no output device can be opened.
pub const NO_DEVICE: &str = "no audio output device; use `reprise render` to write a WAV";

/// Runs `f` with alsa-lib's error messages captured on this thread (Linux).
pub(crate) fn quietly<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(target_os = "linux")]
    let _captured = alsa::Output::local_error_handler().ok();
    f()
}

/// The output to play on: the default device, one whose name contains `name`, or for `null` a silent
/// real-time clock (a machine without audio can still run the player).
pub fn open_output(name: Option<&str>) -> Result<Box<dyn Output>> {
    if name == Some("null") {
        return Ok(Box::new(super::playback::Clocked::new(44_100, 1024, 1.0)));
    }
    Ok(Box::new(DeviceOutput::open(name)?))
}

/// Names of the output devices cpal can see.
pub fn list() -> Vec<String> {
    quietly(|| {
        let host = cpal::default_host();
        host.output_devices()
            .map(|devices| devices.filter_map(|d| device_name(&d)).collect())
            .unwrap_or_default()
    })
}

fn device_name(d: &cpal::Device) -> Option<String> {
    d.description()
        .map(|desc| desc.to_string())
        .ok()
        .or_else(|| d.id().ok().map(|id| id.to_string()))
}

/// An opened output device with its f32 stream configuration; the stream starts with [`Output::start`].
pub struct DeviceOutput {
    device: cpal::Device,
    config: cpal::StreamConfig,
    stream: Option<cpal::Stream>,
}

impl DeviceOutput {
    /// Opens the default output device, or the first whose name contains `name`.
    pub fn open(name: Option<&str>) -> Result<DeviceOutput> {
        quietly(|| {
            let host = cpal::default_host();
            let device = match name {
                None => host.default_output_device(),
                Some(wanted) => host.output_devices().ok().and_then(|mut ds| {
                    ds.find(|d| device_name(d).is_some_and(|n| n.contains(wanted)))
                }),
            };
            let Some(device) = device else {
                return Err(match name {
                    Some(n) => Error::Invalid(format!("no audio output device named {n:?}")),
                    None => Error::Invalid(NO_DEVICE.into()),
                });
            };
            let config = f32_config(&device).ok_or_else(|| Error::Invalid(NO_DEVICE.into()))?;
            Ok(DeviceOutput {
                device,
                config,
                stream: None,
            })
        })
    }
}

/// The device's default configuration if it is f32, else any f32 configuration it supports.
fn f32_config(device: &cpal::Device) -> Option<cpal::StreamConfig> {
    let default = device.default_output_config().ok()?;
    if default.sample_format() == cpal::SampleFormat::F32 {
        return Some(default.into());
    }
    let rate = default.sample_rate();
    device
        .supported_output_configs()
        .ok()?
        .filter(|c| c.sample_format() == cpal::SampleFormat::F32)
        .map(|c| {
            let r = rate.clamp(c.min_sample_rate(), c.max_sample_rate());
            c.with_sample_rate(r).into()
        })
        .next()
}

impl Output for DeviceOutput {
    fn sample_rate(&self) -> u32 {
        self.config.sample_rate
    }

    fn start(&mut self, mut source: Box<dyn AudioSource>) -> Result<()> {
        let channels = self.config.channels as usize;
        let transport: Arc<Transport> = source.transport_handle();
        let stream = quietly(|| {
            self.device.build_output_stream(
                self.config,
                move |data: &mut [f32], _: &cpal::OutputCallbackInfo| source.fill(data, channels),
                move |err: cpal::Error| {
                    if matches!(err.kind(), cpal::ErrorKind::Xrun) {
                        transport.count_underrun();
                    }
                },
                None,
            )
        })
        .map_err(|_| Error::Invalid(NO_DEVICE.into()))?;
        quietly(|| stream.play()).map_err(|_| Error::Invalid(NO_DEVICE.into()))?;
        self.stream = Some(stream);
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(stream) = self.stream.take() {
            let _ = quietly(|| stream.pause());
        }
    }
}
