//! Reading pages: optimistic reads (the hit path inlines into the caller),
//! shared latches, pins, prefetching, and the miss that loads a page.

use super::*;

/// Bytes of a cache line, the stride of [`Pager::prefetch_resident`].
const CACHE_LINE_BYTES: usize = 64;

/// Asks the processor to load the cache line at `address` (a hint: no
/// fault, no effect on what the program computes).
#[inline]
fn prefetch_line(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults and never changes
    // memory, whatever the address; SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

impl Pager {
    /// Reads `page` optimistically: runs `read` over its bytes and returns
    /// the result once the page's version validates, running it again when
    /// the page changed meanwhile. After [`OPTIMISTIC_ATTEMPTS_MAX`]
    /// attempts it takes a shared latch so that a reader always finishes.
    ///
    /// # Errors
    /// [`Error::PageNotAllocated`], [`Error::Corruption`] and I/O errors
    /// when the page is loaded; [`Error::PageInconsistent`] when `read`
    /// restarts even under the shared latch.
    #[inline(always)]
    pub fn read<T>(
        &self,
        page: PageId,
        mut read: impl FnMut(&PageView<'_>) -> Result<T, Restart>,
    ) -> Result<T> {
        // The common case, kept small so that it inlines into the caller
        // (and a processor overlaps many of them): the page is resident
        // and unlatched, and the first attempt validates.
        if let Some((index, version)) = self.optimistic_hit(page) {
            let view = PageView::new(self.frame_ptr(index), self.page_size);
            if let Ok(value) = read(&view)
                && self.frame(index).latch.validate(version)
            {
                return Ok(value);
            }
            return self.read_slow(page, read, 1);
        }
        self.read_slow(page, read, 0)
    }

    /// [`Pager::read`] after `attempts` failed optimistic attempts, or
    /// after a miss of the fast path: loads, restarts, the shared latch.
    #[cold]
    #[inline(never)]
    pub(super) fn read_slow<T>(
        &self,
        page: PageId,
        mut read: impl FnMut(&PageView<'_>) -> Result<T, Restart>,
        attempts: usize,
    ) -> Result<T> {
        for _ in attempts..OPTIMISTIC_ATTEMPTS_MAX {
            let guard = self.optimistic_slow(page)?;
            if let Ok(value) = guard.read(&mut read) {
                return Ok(value);
            }
        }
        let guard = self.shared(page)?;
        let view = PageView::new(self.frame_ptr(guard.frame), self.page_size);
        read(&view).map_err(|Restart| Error::PageInconsistent { page })
    }

    /// The frame and version of `page` if it is resident and not latched
    /// exclusively, counting a hit; `None` in every other case (which the
    /// caller hands to the general path, [`Pager::latch_resident`]).
    #[inline(always)]
    pub(super) fn optimistic_hit(&self, page: PageId) -> Option<(u32, Version)> {
        let Residency::Resident(index) = self.table.lookup(page) else {
            return None;
        };
        let frame = self.frame(index);
        let version = frame.latch.optimistic()?;
        // The frame may have been handed to another page after the lookup.
        if frame.page.load(Ordering::Relaxed) != page.get() {
            return None;
        }
        self.touch(frame, false);
        Some((index, version))
    }

    /// A hint that `page` will be read soon: if it is resident, asks the
    /// processor to bring its frame into the cache (a scan calls it for
    /// the next leaf while it works on the current one, so the next copy
    /// does not wait for memory). Does nothing for a page not resident.
    pub fn prefetch_resident(&self, page: PageId) {
        let Residency::Resident(index) = self.table.lookup(page) else {
            return;
        };
        let start = self.frame_ptr(index);
        for offset in (0..self.page_size).step_by(CACHE_LINE_BYTES) {
            prefetch_line(start.wrapping_add(offset));
        }
    }

    /// Observes `page` for an optimistic read (loading it if needed).
    ///
    /// # Errors
    /// As [`Pager::read`].
    #[inline]
    pub fn optimistic(&self, page: PageId) -> Result<OptimisticGuard<'_>> {
        match self.optimistic_hit(page) {
            Some((frame, version)) => Ok(OptimisticGuard {
                pager: self,
                frame,
                version,
                page,
            }),
            None => self.optimistic_slow(page),
        }
    }

    /// [`Pager::optimistic`] through the general path.
    #[inline(never)]
    pub(super) fn optimistic_slow(&self, page: PageId) -> Result<OptimisticGuard<'_>> {
        // A miss reads the page at the version its load released, without
        // looking it up and latching it again; and the load is inlined
        // here, so that fewer returns follow the read's system call
        // (measured: each is mispredicted after the kernel ran).
        if self.table.lookup(page) == Residency::Absent
            && let Some((frame, version)) = self.load_inline(page)?
        {
            return Ok(OptimisticGuard {
                pager: self,
                frame,
                version,
                page,
            });
        }
        let (frame, version) = self.latch_resident(page, Latch::optimistic, |_| {})?;
        Ok(OptimisticGuard {
            pager: self,
            frame,
            version,
            page,
        })
    }

    /// Takes a shared latch on `page` (loading it if needed): its bytes do
    /// not change until the guard drops. Waits while the writer holds it.
    ///
    /// # Errors
    /// As [`Pager::read`].
    pub fn shared(&self, page: PageId) -> Result<SharedGuard<'_>> {
        let (frame, ()) = self.latch_resident(
            page,
            |latch| latch.try_shared().then_some(()),
            Latch::release_shared,
        )?;
        Ok(SharedGuard {
            pager: self,
            frame,
            page,
        })
    }

    /// Finds the frame holding `page` (loading the page if needed) and
    /// latches it with `latch`, which returns `None` while the latch is not
    /// to be had. The frame is checked under the latch to still hold
    /// `page` (it may have been handed to another page after the lookup);
    /// if not, `unlatch` undoes the latch and the search starts over.
    /// Counts the access as a hit, or as the miss that loaded it.
    pub(super) fn latch_resident<L>(
        &self,
        page: PageId,
        latch: impl Fn(&Latch) -> Option<L>,
        unlatch: impl Fn(&Latch),
    ) -> Result<(u32, L)> {
        let mut round = 0;
        let mut loaded = false;
        loop {
            match self.table.lookup(page) {
                Residency::Resident(index) => {
                    let frame = self.frame(index);
                    if let Some(held) = latch(&frame.latch) {
                        if frame.page.load(Ordering::Relaxed) == page.get() {
                            self.touch(frame, loaded);
                            return Ok((index, held));
                        }
                        unlatch(&frame.latch);
                    }
                    spin_wait(&mut round);
                }
                Residency::Evicting => spin_wait(&mut round),
                Residency::Absent => {
                    self.load(page)?;
                    loaded = true;
                }
            }
        }
    }

    /// Pins `page` in the pool (loading it if needed) until the guard drops.
    ///
    /// # Errors
    /// As [`Pager::read`].
    pub fn pin(&self, page: PageId) -> Result<PinGuard<'_>> {
        let mut round = 0;
        loop {
            match self.table.lookup(page) {
                Residency::Resident(index) => {
                    let entry = self.table.slot(page).state();
                    let frame = self.frame(index);
                    if residency::try_pin(entry, index, &frame.pins) {
                        // The page may still be loading: wait for the load
                        // to end, and keep the pin only if it succeeded.
                        loop {
                            if frame.latch.try_shared() {
                                let loaded = frame.page.load(Ordering::Relaxed) == page.get();
                                frame.latch.release_shared();
                                if loaded {
                                    return Ok(PinGuard {
                                        pager: self,
                                        frame: index,
                                        page,
                                    });
                                }
                                break;
                            }
                            if self.table.lookup(page) != Residency::Resident(index) {
                                break;
                            }
                            spin_wait(&mut round);
                        }
                        residency::unpin(&frame.pins);
                    }
                    spin_wait(&mut round);
                }
                Residency::Evicting => spin_wait(&mut round),
                Residency::Absent => self.load(page)?,
            }
        }
    }

    /// The read-ahead hook for sequential scans: tells the kernel about the
    /// blocks of those of `pages` not in the pool, then loads them.
    ///
    /// # Errors
    /// As [`Pager::read`], for the first page that fails to load.
    pub fn prefetch(&self, pages: &[PageId]) -> Result<()> {
        // The blocks are hints (for the advice and the order): each load
        // reads its page's entry again once it has claimed the page.
        for &page in pages {
            if page != PageId::NONE && page <= PageId::MAX {
                self.ensure_mapped(page)?;
            }
        }
        let mut missing: Vec<(u64, PageId)> = pages
            .iter()
            .filter_map(|&page| {
                let slot = self.table.get(page)?;
                let entry = slot.entry();
                let absent = residency::lookup(slot.state()) == Residency::Absent;
                (absent && entry.allocated && entry.block != 0).then_some((entry.block, page))
            })
            .collect();
        missing.sort_unstable();
        let page_bytes = self.page_size as u64;
        let mut start = 0;
        while start < missing.len() {
            let mut end = start + 1;
            while end < missing.len() && missing[end].0 == missing[end - 1].0 + 1 {
                end += 1;
            }
            let blocks = (end - start) as u64;
            // Advice is a hint: a failure changes nothing.
            let _ = self.file.advise(
                Advice::WillNeed,
                missing[start].0 * page_bytes,
                blocks * page_bytes,
            );
            start = end;
        }
        for (_, page) in missing {
            if self.table.lookup(page) == Residency::Absent {
                self.load(page)?;
                self.counters.read_ahead_pages.add(1);
            }
        }
        Ok(())
    }

    /// Reads `page` from disk into a frame. Returns with the page resident
    /// (or found resident: another thread loaded it first).
    #[inline(never)]
    pub(super) fn load(&self, page: PageId) -> Result<()> {
        self.load_inline(page).map(|_| ())
    }

    /// [`Pager::load`], inlined; returns the frame and the version its
    /// latch was released at if this call loaded the page (`None` if
    /// another thread did).
    #[inline(always)]
    pub(super) fn load_inline(&self, page: PageId) -> Result<Option<(u32, Version)>> {
        if page == PageId::NONE || page > PageId::MAX {
            return Err(Error::PageNotAllocated(page));
        }
        self.ensure_mapped(page)?;
        let slot = self.table.slot(page);
        let index = self.acquire_frame()?;
        if !residency::try_install(slot.state(), index) {
            self.return_frame(index);
            return Ok(None);
        }
        let frame = self.frame(index);
        frame.page.store(page.get(), Ordering::Relaxed);
        // Read only now that the page is ours to load: a dirty eviction may
        // have moved it until the slot was claimed (see `Slot::entry`).
        let located = slot.entry();
        if !located.allocated || located.block == 0 {
            // Not allocated, or allocated this instant and not yet in the
            // pool (the writer is about to install it): nothing to load.
            return Err(self.load_failed(page, index, Error::PageNotAllocated(page)));
        }
        let data = self.frame_bytes_mut(index);
        let offset = located.block * self.page_size as u64;
        if let Err(error) = self.read_block(data, offset) {
            return Err(self.load_failed(page, index, Error::Io(error)));
        }
        self.counters.bytes_read.add(self.page_size as u64);
        let found = page_checksum(page, data);
        if found != located.checksum {
            let error = Error::Corruption {
                path: self.path.clone(),
                page,
                block: located.block,
                expected: located.checksum,
                found,
            };
            return Err(self.load_failed(page, index, error));
        }
        frame.dirty.store(false, Ordering::Relaxed);
        frame.referenced.store(true, Ordering::Relaxed);
        let version = frame.latch.release_exclusive();
        self.counters.misses.add(1);
        Ok(Some((index, version)))
    }

    /// Undoes the claim of a load that failed with `error` (returned):
    /// the page is not resident, frame `index` goes back to the free list.
    /// Out of line, so that the loads that succeed carry none of it.
    #[cold]
    #[inline(never)]
    pub(super) fn load_failed(&self, page: PageId, index: u32, error: Error) -> Error {
        residency::remove(self.table.slot(page).state());
        self.frame(index).page.store(0, Ordering::Relaxed);
        self.return_frame(index);
        error
    }
}
