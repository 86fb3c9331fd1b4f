//! The one writer's side: exclusive latches, allocating and freeing
//! pages, the write poison latch.

use super::*;

impl Pager {
    pub(crate) fn enter_write(&self) -> Result<WriteToken<'_>> {
        let before = self.writers.fetch_add(1, Ordering::Acquire);
        let token = WriteToken {
            writers: &self.writers,
        };
        if before & CHECKPOINT_RUNNING != 0 {
            return Err(Error::WriterActive);
        }
        Ok(token)
    }

    /// Takes the exclusive latch on `page` (loading it if needed), for the
    /// one writer. The page is marked dirty if the guard is written through.
    ///
    /// # Errors
    /// As [`Pager::read`]; [`Error::WriterActive`] during a checkpoint.
    pub fn exclusive(&self, page: PageId) -> Result<ExclusiveGuard<'_>> {
        let token = self.enter_write()?;
        let index = self.latch_exclusive(page)?;
        Ok(ExclusiveGuard {
            pager: self,
            frame: index,
            page,
            modified: false,
            released: false,
            _token: token,
        })
    }

    pub(super) fn latch_exclusive(&self, page: PageId) -> Result<u32> {
        let (frame, ()) = self.latch_resident(
            page,
            |latch| latch.try_exclusive().then_some(()),
            Latch::release_exclusive_unchanged,
        )?;
        Ok(frame)
    }

    /// Allocates a page (the lowest free id), zero-filled, dirty, and
    /// exclusively latched.
    ///
    /// # Errors
    /// [`Error::PageIdsExhausted`], [`Error::PoolExhausted`], I/O errors of
    /// a dirty eviction, [`Error::WriterActive`] during a checkpoint.
    pub fn allocate(&self) -> Result<ExclusiveGuard<'_>> {
        let token = self.enter_write()?;
        let page = self
            .store()?
            .map
            .allocate(&self.table)
            .ok_or(Error::PageIdsExhausted {
                limit: PageId::MAX.get() + 1,
            })?;
        let index = match self.acquire_frame() {
            Ok(index) => index,
            Err(error) => {
                self.store()?.map.free(&self.table, page);
                return Err(error);
            }
        };
        // A reader holding a stale id may be loading this page right now;
        // it finds the page never written and backs out (see `load`).
        let entry = self.table.slot(page).state();
        let mut round = 0;
        while !residency::try_install(entry, index) {
            spin_wait(&mut round);
        }
        let frame = self.frame(index);
        frame.page.store(page.get(), Ordering::Relaxed);
        self.frame_bytes_mut(index).fill(0);
        frame.referenced.store(true, Ordering::Relaxed);
        Ok(ExclusiveGuard {
            pager: self,
            frame: index,
            page,
            modified: true,
            released: false,
            _token: token,
        })
    }

    /// Frees `page` (see [`ExclusiveGuard::free`]).
    ///
    /// # Errors
    /// [`Error::PageNotAllocated`], [`Error::WriterActive`].
    pub fn free(&self, page: PageId) -> Result<()> {
        self.exclusive(page)?.free()
    }

    /// Removes `page` from frame `index` (latched exclusively by the
    /// caller) and from the map.
    pub(crate) fn free_latched(&self, page: PageId, index: u32) -> Result<()> {
        let frame = self.frame(index);
        // Out of the map first, while the page is still resident and
        // latched: a reader that misses from now on finds it unallocated
        // instead of loading it back.
        let freed = {
            let mut store = self.store()?;
            match store.map.free(&self.table, page) {
                Some(0) => Ok(()),
                Some(block) => {
                    store.blocks.release(block);
                    Ok(())
                }
                None => Err(Error::PageNotAllocated(page)),
            }
        };
        residency::remove(self.table.slot(page).state());
        frame.page.store(0, Ordering::Relaxed);
        frame.dirty.store(false, Ordering::Relaxed);
        // Moves the version on: optimistic readers of the page restart.
        frame.latch.release_exclusive();
        freed
    }

    pub(super) fn check_poisoned(&self) -> Result<()> {
        match self.poisoned.get() {
            Some(error) => Err(Error::Poisoned(Box::new(error.clone()))),
            None => Ok(()),
        }
    }

    /// Latches the pager failed with its first write or sync error.
    pub(super) fn poison(&self, error: impl Into<Error>) -> Error {
        let error = error.into();
        let _ = self.poisoned.set(error.clone());
        tracing::error!(path = %self.path.display(), %error, "page file failed; writes stop until reopen");
        error
    }
}
