//! Batches for training and scoring.
//!
//! The split already sits in memory as one u8 tensor (`dataset::SplitData`), so a batch is
//! an `index_select` (plus a horizontal flip of the sequences chosen for augmentation);
//! u8 crosses to the device (4x less than f32) and the model converts there. The order and
//! the flips are decided up front from the run's seed, so batches never depend on timing.
//!
//! - On CUDA a producer thread prepares and pins the next batches while the GPU computes,
//!   and the copy to the device is asynchronous: the GPU never waits for data.
//! - On the CPU the batch is cut inline, just before it is used: it costs microseconds,
//!   and a second thread issuing libtorch ops would get an OpenMP team of its own, whose
//!   spinning workers compete with the compute team for the same cores.

use std::sync::mpsc;
use std::thread;

use tch::{Device, Kind, Tensor};

use crate::dataset::SplitData;

pub struct Batch {
    pub frames: Tensor,
    pub lengths: Tensor,
    pub labels: Tensor,
}

/// Cuts batches out of a split held in memory.
struct Cutter {
    frames: Tensor,
    lengths: Tensor,
    labels: Tensor,
    order: Vec<usize>,
    flips: Option<Vec<bool>>,
    batch_size: usize,
    pin: Option<Device>,
}

impl Cutter {
    fn batches(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    fn cut(&self, b: usize) -> Batch {
        let start = b * self.batch_size;
        let chunk = &self.order[start..(start + self.batch_size).min(self.order.len())];
        let idx: Vec<i64> = chunk.iter().map(|&i| i as i64).collect();
        let idx = Tensor::from_slice(&idx);
        let mut x = self.frames.index_select(0, &idx);
        if let Some(flips) = &self.flips {
            let f = Tensor::from_slice(&flips[start..start + chunk.len()]).view([
                chunk.len() as i64,
                1,
                1,
                1,
                1,
            ]);
            x = x.flip([-1]).where_self(&f, &x);
        }
        if let Some(device) = self.pin {
            x = x.pin_memory(device);
        }
        Batch {
            frames: x,
            lengths: self.lengths.index_select(0, &idx),
            labels: self.labels.index_select(0, &idx),
        }
    }
}

enum Source {
    Inline {
        cutter: Cutter,
        next: usize,
    },
    Background {
        rx: mpsc::Receiver<Batch>,
        handle: Option<thread::JoinHandle<()>>,
    },
}

/// Yields the batches of `order`; `flips[i]` mirrors the i-th sequence of `order`.
pub struct Loader {
    source: Source,
    device: Device,
}

impl Loader {
    pub fn new(
        data: &SplitData,
        order: Vec<usize>,
        flips: Option<Vec<bool>>,
        batch_size: usize,
        device: Device,
    ) -> Self {
        let cutter = Cutter {
            frames: data.frames.shallow_clone(),
            lengths: data.lengths.shallow_clone(),
            labels: data.labels.shallow_clone(),
            order,
            flips,
            batch_size: batch_size.max(1),
            pin: device.is_cuda().then_some(device),
        };
        let source = if device.is_cuda() {
            let (tx, rx) = mpsc::sync_channel::<Batch>(2);
            let handle = thread::spawn(move || {
                for b in 0..cutter.batches() {
                    if tx.send(cutter.cut(b)).is_err() {
                        return;
                    }
                }
            });
            Source::Background {
                rx,
                handle: Some(handle),
            }
        } else {
            Source::Inline { cutter, next: 0 }
        };
        Loader { source, device }
    }
}

impl Iterator for Loader {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let b = match &mut self.source {
            Source::Inline { cutter, next } => {
                if *next >= cutter.batches() {
                    return None;
                }
                *next += 1;
                return Some(cutter.cut(*next - 1));
            }
            Source::Background { rx, .. } => rx.recv().ok()?,
        };
        let d = self.device;
        Some(Batch {
            frames: b.frames.to_device_(d, Kind::Uint8, true, false),
            lengths: b.lengths.to_device(d),
            labels: b.labels.to_device(d),
        })
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        if let Source::Background { rx, handle } = &mut self.source {
            // Unblock a producer waiting on a full channel, then wait for it to finish.
            let (_tx, empty) = mpsc::sync_channel(0);
            drop(std::mem::replace(rx, empty));
            if let Some(h) = handle.take() {
                let _ = h.join();
            }
        }
    }
}
