//! Bank transfers from several threads at once: each transfer reads two
//! balances and writes both, in a serializable transaction that
//! `Database::update` runs again when it conflicts with another. No money
//! is created or lost: the total stays the same however the threads
//! interleave. An overdraft is the application's own error, returned
//! through `update_with` without a retry.
//!
//! ```text
//! cargo run -p keel --example bank_transfers
//! ```

use std::sync::Arc;

use keel::{Database, Keyspace, Options, Transaction, UpdateOptions};

const ACCOUNTS: u64 = 8;
const OPENING_BALANCE: u64 = 1_000;
const THREADS: u64 = 4;
const TRANSFERS_PER_THREAD: u64 = 200;

/// The application's error: keel's, or a refused transfer.
#[derive(Debug)]
enum BankError {
    Keel(keel::Error),
    InsufficientFunds {
        account: u64,
        balance: u64,
        wanted: u64,
    },
}

impl std::fmt::Display for BankError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BankError::Keel(error) => write!(f, "storage: {error}"),
            BankError::InsufficientFunds {
                account,
                balance,
                wanted,
            } => {
                write!(f, "account {account} holds {balance}, {wanted} wanted")
            }
        }
    }
}

impl std::error::Error for BankError {}

impl From<keel::Error> for BankError {
    fn from(error: keel::Error) -> Self {
        BankError::Keel(error)
    }
}

fn account_key(account: u64) -> String {
    format!("account:{account:03}")
}

fn balance(tx: &Transaction, accounts: &Keyspace, account: u64) -> keel::Result<u64> {
    let value = tx.get_with(accounts, account_key(account), |value| {
        value.and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
    })?;
    Ok(value.map_or(0, u64::from_le_bytes))
}

fn transfer(
    db: &Database,
    accounts: &Keyspace,
    from: u64,
    to: u64,
    amount: u64,
) -> Result<(), BankError> {
    db.update_with(&UpdateOptions::default(), |tx| {
        let from_balance = balance(tx, accounts, from)?;
        if from_balance < amount {
            return Err(BankError::InsufficientFunds {
                account: from,
                balance: from_balance,
                wanted: amount,
            });
        }
        let to_balance = balance(tx, accounts, to)?;
        tx.put(
            accounts,
            account_key(from),
            (from_balance - amount).to_le_bytes(),
        )?;
        tx.put(
            accounts,
            account_key(to),
            (to_balance + amount).to_le_bytes(),
        )?;
        Ok(())
    })
}

fn total(db: &Database, accounts: &Keyspace) -> keel::Result<u64> {
    db.view(|tx| {
        (0..ACCOUNTS)
            .map(|account| balance(tx, accounts, account))
            .sum()
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = Arc::new(Database::open(dir.path(), Options::default())?);
    let accounts = db.keyspace("accounts")?;
    db.update(|tx| {
        for account in 0..ACCOUNTS {
            tx.put(
                &accounts,
                account_key(account),
                OPENING_BALANCE.to_le_bytes(),
            )?;
        }
        Ok(())
    })?;

    let workers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (db, accounts) = (Arc::clone(&db), accounts.clone());
            std::thread::spawn(move || -> Result<u64, BankError> {
                let mut refused = 0;
                for index in 0..TRANSFERS_PER_THREAD {
                    let seed = thread * 7919 + index * 104_729;
                    let (from, to) = (seed % ACCOUNTS, (seed / ACCOUNTS + 1 + seed) % ACCOUNTS);
                    if from == to {
                        continue;
                    }
                    match transfer(&db, &accounts, from, to, 1 + seed % 300) {
                        Ok(()) => {}
                        Err(BankError::InsufficientFunds { .. }) => refused += 1,
                        Err(error) => return Err(error),
                    }
                }
                Ok(refused)
            })
        })
        .collect();
    let mut refused = 0;
    for worker in workers {
        refused += worker.join().expect("a transfer thread panicked")?;
    }

    let stats = db.stats();
    let total = total(&db, &accounts)?;
    println!(
        "{} commits, {} conflicts retried, {refused} transfers refused for lack of funds",
        stats.commits, stats.conflicts
    );
    println!("total {total} (opened with {})", ACCOUNTS * OPENING_BALANCE);
    assert_eq!(
        total,
        ACCOUNTS * OPENING_BALANCE,
        "money was created or lost"
    );

    match transfer(&db, &accounts, 0, 1, u64::MAX) {
        Err(BankError::InsufficientFunds {
            account,
            balance,
            wanted,
        }) => {
            println!("refused: account {account} holds {balance}, {wanted} wanted");
        }
        other => panic!("an overdraft went through: {other:?}"),
    }
    Ok(())
}
