//! The training loop shared by every model: epochs of batches, warm-up and cosine learning rate,
//! gradient clipping, periodic validation with export of the best model, CSV/PNG logs, checkpoints
//! (weights, Adam moments, run state) and `--max-minutes`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Tensor;
use candle_nn::VarMap;

use super::{
    load_checkpoint, save_checkpoint, CsvLog, RunState, StepInfo, Stop, TrainOptions, CHECKPOINT,
};
use crate::error::{Error, Result};
use crate::model::optim::{AdamW, AdamWParams};

/// A model with its data, as the loop drives it.
pub(crate) trait Job {
    /// The trainable variables.
    fn varmap(&self) -> &VarMap;
    /// Prepares the batches of `epoch` (deterministically); returns how many there are.
    fn start_epoch(&mut self, epoch: usize) -> Result<usize>;
    /// The mean loss of batch `i` of the current epoch (with its graph) and its token count.
    fn loss(&mut self, i: usize) -> Result<(Tensor, usize)>;
    /// Validation NLL per token (nats).
    fn validate(&self) -> Result<f64>;
    /// Writes the model for use (f16 weights and `config.json`) into `dir`.
    fn export(&self, dir: &Path) -> Result<()>;
    /// What the model learns from, in a few lines, for the model card.
    fn data_summary(&self) -> String {
        String::new()
    }
}

/// Backward, global-norm clipping to `clip`, one AdamW update at `lr`; returns the loss value.
/// A non-finite loss or gradient norm is an error and leaves the weights untouched.
pub(crate) fn optimise(opt: &mut AdamW, loss: &Tensor, lr: f64, clip: f64) -> Result<f64> {
    let value = loss.to_scalar::<f32>().map_err(Error::tensor)? as f64;
    let grads = loss.backward().map_err(Error::tensor)?;
    let norm = opt.grad_norm(&grads).map_err(Error::tensor)?;
    if !(value.is_finite() && norm.is_finite()) {
        return Err(Error::Invalid(format!(
            "the loss went non-finite (loss {value}, gradient norm {norm})"
        )));
    }
    let scale = if norm > clip { clip / norm } else { 1.0 };
    opt.update(&grads, lr, scale).map_err(Error::tensor)?;
    Ok(value)
}

/// Runs `job` to `total_steps` (or until early stopping, `--max-minutes` or a cancel), resuming
/// from the run directory's checkpoint when asked; the best model and its card are in `model/`.
pub(crate) fn run(
    job: &mut dyn Job,
    opts: &TrainOptions,
    on_step: &mut dyn FnMut(&StepInfo),
) -> Result<RunState> {
    let cfg = &opts.config;
    let mut run = Loop::start(job, opts, on_step)?;
    run.state.stop = Stop::Running;
    if run.out_of_patience() {
        return run.finish(job, Stop::EarlyStopped);
    }
    'epochs: while run.state.step < cfg.total_steps {
        let batches = job.start_epoch(run.state.epoch)?;
        if batches == 0 {
            return Err(Error::Invalid(format!(
                "{}: the training split gives no batch (no piece long enough, or none at all)",
                opts.data.display()
            )));
        }
        while run.state.batch_in_epoch < batches {
            if run.state.step >= cfg.total_steps {
                break 'epochs;
            }
            if let Some(stop) = run.step(job, on_step)? {
                return run.finish(job, stop);
            }
        }
        // End of an epoch: validate (unless this step just did), export the best model, plot.
        if cfg.valid_every == 0 || !run.state.step.is_multiple_of(cfg.valid_every) {
            run.validate(job, run.tokens_per_s, on_step)?;
        }
        run.state.epoch += 1;
        run.state.batch_in_epoch = 0;
        save_checkpoint(&run.ckpt_path, &run.opt, &run.state)?;
        run.log.plot(&opts.out.join("loss.png"))?;
        if run.out_of_patience() {
            return run.finish(job, Stop::EarlyStopped);
        }
    }
    if run.state.batch_in_epoch > 0 {
        // The run ended inside an epoch: validate the final weights too.
        run.validate(job, 0.0, on_step)?;
    }
    run.finish(job, Stop::Finished)
}

/// A run in progress: the optimiser, the run state, the log and the clocks.
struct Loop<'a> {
    opts: &'a TrainOptions,
    ckpt_path: PathBuf,
    model_dir: PathBuf,
    opt: AdamW,
    state: RunState,
    log: CsvLog,
    /// When this session started, and the run's elapsed seconds then.
    session: Instant,
    start_elapsed: f64,
    /// Throughput: when the current window started and the tokens since.
    window: (Instant, usize),
    tokens_per_s: f64,
}

impl<'a> Loop<'a> {
    /// The optimiser over `job`'s variables, and the state and log, from the checkpoint when
    /// resuming.
    fn start(
        job: &dyn Job,
        opts: &'a TrainOptions,
        on_step: &mut dyn FnMut(&StepInfo),
    ) -> Result<Self> {
        let ckpt_path = opts.out.join(CHECKPOINT);
        let vars: HashMap<String, candle_core::Var> = job
            .varmap()
            .data()
            .lock()
            .map_err(|_| Error::Internal("var map lock".into()))?
            .clone();
        let params = AdamWParams {
            weight_decay: opts.config.weight_decay,
            ..Default::default()
        };
        let mut opt = AdamW::new(vars, params).map_err(Error::tensor)?;
        let mut state = RunState::default();
        if opts.resume {
            state = load_checkpoint(&ckpt_path, &mut opt, &candle_core::Device::Cpu)?;
        }
        let resumed_at = opts.resume.then_some(state.step);
        let log = CsvLog::open(&opts.out.join("log.csv"), resumed_at)?;
        let mut run = Loop {
            opts,
            ckpt_path,
            model_dir: opts.out.join("model"),
            opt,
            start_elapsed: state.elapsed_s,
            state,
            log,
            session: Instant::now(),
            window: (Instant::now(), 0),
            tokens_per_s: 0.0,
        };
        if opts.init.is_some() && !opts.resume {
            // A fine-tune's "before": the starting model, validated and exported as the best so far.
            run.state.init = opts.init.clone();
            run.state.stop = Stop::Running;
            run.validate(job, 0.0, on_step)?;
            run.state.initial_valid_nll = run.state.best_valid_nll;
            run.write_card(job)?;
        }
        Ok(run)
    }

    /// Ends the run (or this session of it) for `stop`: checkpoint, plot, and the model card
    /// brought up to date.
    fn finish(mut self, job: &dyn Job, stop: Stop) -> Result<RunState> {
        self.state.stop = stop;
        save_checkpoint(&self.ckpt_path, &self.opt, &self.state)?;
        self.log.plot(&self.opts.out.join("loss.png"))?;
        self.write_card(job)?;
        Ok(self.state)
    }

    /// Rewrites the exported model's card (when a model has been exported).
    fn write_card(&self, job: &dyn Job) -> Result<()> {
        if !self.model_dir.join("config.json").is_file() {
            return Ok(());
        }
        super::card::write(&self.model_dir, self.opts, &self.state, &job.data_summary())
    }

    /// True when early stopping is on and the last `patience` validations found no new best.
    fn out_of_patience(&self) -> bool {
        let p = self.opts.config.patience;
        p > 0 && self.state.since_best >= p
    }

    /// One optimiser step on the next batch, logged, with validation and checkpoint when due;
    /// why the run must stop now, if it must (out of time, cancelled, out of patience).
    fn step(
        &mut self,
        job: &mut dyn Job,
        on_step: &mut dyn FnMut(&StepInfo),
    ) -> Result<Option<Stop>> {
        let opts = self.opts;
        let cfg = &opts.config;
        let state = &mut self.state;
        let lr = cfg.lr_at(state.step);
        crate::model::dropout::reseed(cfg.seed, state.step);
        let (loss, tokens) = job.loss(state.batch_in_epoch)?;
        let loss = optimise(&mut self.opt, &loss, lr, cfg.clip_norm).map_err(|e| {
            Error::Invalid(format!(
                "step {}: {e}; stopped, the last checkpoint ({}) is kept",
                state.step + 1,
                self.ckpt_path.display()
            ))
        })?;
        state.step += 1;
        state.batch_in_epoch += 1;
        state.elapsed_s = self.start_elapsed + self.session.elapsed().as_secs_f64();
        self.window.1 += tokens;
        let dt = self.window.0.elapsed().as_secs_f64();
        if dt > 5.0 || self.tokens_per_s == 0.0 {
            self.tokens_per_s = self.window.1 as f64 / dt.max(1e-9);
            self.window = (Instant::now(), 0);
        }
        self.log
            .row(state, lr, Some(loss), self.tokens_per_s, None)?;
        on_step(&StepInfo {
            step: state.step,
            total_steps: cfg.total_steps,
            epoch: state.epoch,
            loss,
            tokens_per_s: self.tokens_per_s,
            valid_nll: None,
        });
        if cfg.valid_every > 0 && self.state.step.is_multiple_of(cfg.valid_every) {
            self.validate(job, self.tokens_per_s, on_step)?;
        }
        if self.state.step.is_multiple_of(cfg.checkpoint_every) {
            save_checkpoint(&self.ckpt_path, &self.opt, &self.state)?;
        }
        Ok(self.should_stop())
    }

    /// Why the run must stop after this step, if it must.
    fn should_stop(&self) -> Option<Stop> {
        let opts = self.opts;
        let cancelled = opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Acquire));
        let out_of_time = opts
            .max_minutes
            .is_some_and(|m| self.session.elapsed().as_secs_f64() > m * 60.0);
        if cancelled {
            Some(Stop::Interrupted)
        } else if out_of_time {
            Some(Stop::OutOfTime)
        } else if self.out_of_patience() {
            Some(Stop::EarlyStopped)
        } else {
            None
        }
    }

    /// Validates, exports the model if it is the best so far, and logs and reports the NLL.
    fn validate(
        &mut self,
        job: &dyn Job,
        tokens_per_s: f64,
        on_step: &mut dyn FnMut(&StepInfo),
    ) -> Result<()> {
        let opts = self.opts;
        let cfg = &opts.config;
        let state = &mut self.state;
        let nll = job.validate()?;
        let best = state.best_valid_nll.is_none_or(|b| nll < b);
        if best {
            state.best_valid_nll = Some(nll);
            state.best_step = state.step;
            state.since_best = 0;
            job.export(&self.model_dir)?;
        } else {
            state.since_best += 1;
        }
        self.log
            .row(state, cfg.lr_at(state.step), None, tokens_per_s, Some(nll))?;
        on_step(&StepInfo {
            step: state.step,
            total_steps: cfg.total_steps,
            epoch: state.epoch,
            loss: f64::NAN,
            tokens_per_s,
            valid_nll: Some(nll),
        });
        if best {
            self.write_card(job)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_finite_loss_is_an_error_and_leaves_the_weights() {
        let w = candle_core::Var::new(&[1f32, 2.0], &candle_core::Device::Cpu).unwrap();
        let vars = HashMap::from([("w".to_string(), w.clone())]);
        let mut opt = AdamW::new(vars, AdamWParams::default()).unwrap();
        let nan = Tensor::new(&[f32::NAN, 1.0], &candle_core::Device::Cpu).unwrap();
        let loss = (w.as_tensor() * nan).unwrap().sum_all().unwrap();
        let err = optimise(&mut opt, &loss, 0.1, 1.0).unwrap_err().to_string();
        assert!(err.contains("non-finite"), "{err}");
        assert_eq!(w.as_tensor().to_vec1::<f32>().unwrap(), [1.0, 2.0]);
        let loss = w.as_tensor().sqr().unwrap().sum_all().unwrap();
        assert_eq!(optimise(&mut opt, &loss, 0.1, 1.0).unwrap(), 5.0);
        assert_ne!(w.as_tensor().to_vec1::<f32>().unwrap(), [1.0, 2.0]);
    }
}
