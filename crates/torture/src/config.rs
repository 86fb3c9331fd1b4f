//! How long and on which seeds a simulator run goes.

use std::time::Duration;

use crate::disk::Disk;
use crate::trace::TRACE_RECENT_EVENTS_DEFAULT;

/// Rounds (crash cycles) one seed runs before the next seed starts on a
/// fresh disk, by default.
pub const ROUNDS_PER_SEED_DEFAULT: u64 = 200;

/// The environment variable naming the first seed.
pub const ENV_SEED: &str = "KEEL_TORTURE_SEED";
/// The environment variable giving the crash-image budget.
pub const ENV_IMAGES: &str = "KEEL_TORTURE_IMAGES";
/// The environment variable giving the time budget in seconds.
pub const ENV_SECONDS: &str = "KEEL_TORTURE_SECONDS";
/// The environment variable giving how many seeds to run (1: replay one).
pub const ENV_SEEDS: &str = "KEEL_TORTURE_SEEDS";
/// The environment variable giving the rounds per seed.
pub const ENV_ROUNDS_PER_SEED: &str = "KEEL_TORTURE_ROUNDS_PER_SEED";

/// A simulator run: seeds `seed, seed + 1, …`, each for up to
/// `rounds_per_seed` rounds, until a budget is spent or a divergence is
/// found. With only an image budget the run is exactly reproducible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The first seed.
    pub seed: u64,
    /// Stop once this many crash images were checked.
    pub images: Option<u64>,
    /// Stop once this much time has passed (checked between rounds).
    pub duration: Option<Duration>,
    /// Stop after this many seeds (1: replay one seed's run).
    pub seeds: Option<u64>,
    /// Rounds per seed.
    pub rounds_per_seed: u64,
    /// Recent events kept for a failure report.
    pub recent_events: usize,
    /// The disk the database sees (an honest one but for self-tests).
    pub disk: Disk,
    /// Whether one key in twelve is long (see `workload::key`); off only to
    /// replay a seed found before long keys were drawn.
    pub long_keys: bool,
}

impl Config {
    /// A run from `seed` checking `images` crash images.
    pub fn images(seed: u64, images: u64) -> Config {
        Config {
            seed,
            images: Some(images),
            duration: None,
            seeds: None,
            rounds_per_seed: ROUNDS_PER_SEED_DEFAULT,
            recent_events: TRACE_RECENT_EVENTS_DEFAULT,
            disk: Disk::Honest,
            long_keys: true,
        }
    }

    /// A run from `seed` for `duration`.
    pub fn duration(seed: u64, duration: Duration) -> Config {
        Config {
            duration: Some(duration),
            images: None,
            ..Config::images(seed, 0)
        }
    }

    /// The run of seed `seed` alone, all its rounds: what replays a
    /// divergence.
    pub fn replay(seed: u64) -> Config {
        Config {
            images: None,
            seeds: Some(1),
            ..Config::images(seed, 0)
        }
    }

    /// `default`, with what the environment sets: [`ENV_SEED`],
    /// [`ENV_IMAGES`], [`ENV_SECONDS`], [`ENV_SEEDS`],
    /// [`ENV_ROUNDS_PER_SEED`]. Setting any budget replaces all of the
    /// default's.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a value that is not a number.
    pub fn from_env(default: Config) -> Result<Config, ConfigError> {
        let mut config = default;
        if let Some(seed) = read_number(ENV_SEED)? {
            config.seed = seed;
        }
        let images = read_number(ENV_IMAGES)?;
        let seconds = read_number(ENV_SECONDS)?;
        let seeds = read_number(ENV_SEEDS)?;
        if images.is_some() || seconds.is_some() || seeds.is_some() {
            config.images = images;
            config.duration = seconds.map(Duration::from_secs);
            config.seeds = seeds;
        }
        if let Some(rounds) = read_number(ENV_ROUNDS_PER_SEED)? {
            config.rounds_per_seed = rounds;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks that the run ends and does something.
    ///
    /// # Errors
    /// [`ConfigError::NoBudget`], [`ConfigError::NoRounds`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.images.is_none() && self.duration.is_none() && self.seeds.is_none() {
            return Err(ConfigError::NoBudget);
        }
        if self.rounds_per_seed == 0 {
            return Err(ConfigError::NoRounds);
        }
        Ok(())
    }
}

/// The number in environment variable `name` (`_` separators allowed),
/// if it is set.
pub(crate) fn read_number(name: &'static str) -> Result<Option<u64>, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(text) => text
            .trim()
            .replace('_', "")
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::Invalid { name, value: text }),
    }
}

/// A configuration the simulator cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment variable that is not a number.
    #[error("{name}={value:?} is not a non-negative integer")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// No image, time or seed budget: the run would not end.
    #[error("a simulator run needs an image, time or seed budget")]
    NoBudget,
    /// Zero rounds per seed.
    #[error("rounds per seed must be at least 1")]
    NoRounds,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_needs_a_budget_and_rounds() {
        assert_eq!(Config::images(1, 10).validate(), Ok(()));
        let endless = Config {
            images: None,
            ..Config::images(1, 10)
        };
        assert_eq!(endless.validate(), Err(ConfigError::NoBudget));
        let empty = Config {
            rounds_per_seed: 0,
            ..Config::images(1, 10)
        };
        assert_eq!(empty.validate(), Err(ConfigError::NoRounds));
        assert!(
            Config::duration(1, Duration::from_secs(1))
                .validate()
                .is_ok()
        );
    }
}
