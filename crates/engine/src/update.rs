//! Running a closure as a transaction, again when it conflicts:
//! [`Database::update`], [`Database::update_with`] and their backoff.

use std::time::Duration;

use crate::database::Database;
use crate::error::Error;
use crate::options::{Durability, UPDATE_ATTEMPTS_MAX};
use crate::transaction::{Isolation, Transaction};

/// How [`Database::update_with`] runs its closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateOptions {
    /// The isolation of each attempt's transaction.
    pub isolation: Isolation,
    /// Attempts before giving up with [`Error::TooManyConflicts`] (at
    /// least one is made).
    pub attempts: u32,
    /// The commit's durability; `None` keeps the database's.
    pub durability: Option<Durability>,
}

impl Default for UpdateOptions {
    fn default() -> UpdateOptions {
        UpdateOptions {
            isolation: Isolation::Serializable,
            attempts: UPDATE_ATTEMPTS_MAX,
            durability: None,
        }
    }
}

impl Database {
    /// Runs `write` in a serializable transaction and commits it, running it
    /// again (after a short randomized backoff) when it conflicts, at most
    /// [`UPDATE_ATTEMPTS_MAX`] times. `write` must be safe to run more than
    /// once.
    ///
    /// # Errors
    /// [`Error::TooManyConflicts`]; any error `write` or the commit returns
    /// other than a conflict (nothing is retried then).
    pub fn update<T>(
        &self,
        write: impl FnMut(&mut Transaction) -> crate::Result<T>,
    ) -> crate::Result<T> {
        self.update_with(&UpdateOptions::default(), write)
    }

    /// [`Database::update`] with the isolation, attempts and durability of
    /// `options`, and the caller's error type: `write` may fail with any
    /// `E` that a keel [`Error`] converts into. Only a conflict at commit
    /// is retried; an error from `write` rolls the attempt back and is
    /// returned as it is.
    ///
    /// # Errors
    /// What `write` returns; the commit's error (after `options.attempts`
    /// conflicts, [`Error::TooManyConflicts`]) converted into `E`.
    pub fn update_with<T, E: From<Error>>(
        &self,
        options: &UpdateOptions,
        mut write: impl FnMut(&mut Transaction) -> Result<T, E>,
    ) -> Result<T, E> {
        self.check_open()?;
        retry_conflicts(options.attempts, || {
            let mut transaction = self.begin(options.isolation);
            if let Some(durability) = options.durability {
                transaction.set_durability(durability);
            }
            let value = write(&mut transaction)?;
            Ok(transaction.commit().map(|()| value))
        })
    }
}

/// Runs `attempt` (which writes, then returns its commit's outcome) until
/// the commit does not conflict, at most `attempts` times (at least once),
/// backing off between: the one retry loop of `Database::update_with` and
/// `Coordinator::update`. A write's own error ends it at once.
pub(crate) fn retry_conflicts<T, E: From<Error>>(
    attempts: u32,
    mut attempt: impl FnMut() -> Result<Result<T, Error>, E>,
) -> Result<T, E> {
    let attempts = attempts.max(1);
    let mut last = (String::new(), bytes::Bytes::new());
    for number in 0..attempts {
        match attempt()? {
            Ok(value) => return Ok(value),
            Err(Error::Conflict { keyspace, key, .. }) => {
                last = (keyspace, key);
                if number + 1 < attempts {
                    backoff(number);
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(Error::TooManyConflicts {
        attempts,
        keyspace: last.0,
        key: last.1,
    }
    .into())
}

/// Sleeps a little before a conflicted transaction runs again:
/// randomized, growing with the attempt, at most about 10 ms.
pub fn backoff(attempt: u32) {
    let ceiling_us = 20u64 << attempt.min(9);
    let sleep_us = ceiling_us / 2 + rand::random::<u64>() % (ceiling_us / 2 + 1);
    std::thread::sleep(Duration::from_micros(sleep_us));
}
