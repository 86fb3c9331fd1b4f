//! A database's identity: 16 random bytes in its catalog, drawn the first
//! time they are asked for and kept across reopens, checkpoints and
//! compaction. It tells one database from another where a path cannot: a
//! [`crate::Coordinator`] records its participants' identities and refuses
//! to open over any other database. A dump loaded into a new database does
//! not carry it (that is another database).

use bytes::Bytes;

use crate::database::Database;
use crate::error::{Error, Result};
use crate::keyspace::{CATALOG, IDENTITY_TAG};
use crate::log::join_key;
use crate::options::Durability;
use crate::transaction::Transaction;
use crate::update::UpdateOptions;

/// Bytes of an identity.
const IDENTITY_BYTES: usize = 16;

fn identity_key() -> Bytes {
    join_key(CATALOG, &[IDENTITY_TAG])
}

/// The identity `transaction` sees, if the database has one.
fn read(transaction: &mut Transaction) -> Result<Option<u128>> {
    let Some(value) = transaction.raw().get(&identity_key())? else {
        return Ok(None);
    };
    let bytes: [u8; IDENTITY_BYTES] = value.as_ref().try_into().map_err(|_| {
        Error::corruption(
            "pages",
            crate::error::Location::Catalog,
            format!(
                "the database identity has {} bytes, not {IDENTITY_BYTES}",
                value.len()
            ),
        )
    })?;
    Ok(Some(u128::from_le_bytes(bytes)))
}

impl Database {
    /// This database's identity: 128 random bits drawn the first time it is
    /// asked for (one durable commit) and the same at every later open.
    /// Never zero.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] on a database opened read-only that has none
    /// yet; the errors of the commit that records it.
    pub fn id(&self) -> Result<u128> {
        if let Some(id) = self.view(read)? {
            return Ok(id);
        }
        self.check_writable()?;
        let options = UpdateOptions {
            durability: Some(Durability::Sync),
            ..UpdateOptions::default()
        };
        self.update_with(&options, |transaction| {
            if let Some(id) = read(transaction)? {
                return Ok(id);
            }
            let id = rand::random::<u128>().max(1);
            transaction
                .raw()
                .put(&identity_key(), Bytes::copy_from_slice(&id.to_le_bytes()))?;
            Ok(id)
        })
    }
}
