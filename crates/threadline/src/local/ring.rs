//! A bounded single-producer single-consumer ring.
//!
//! Each instrumented thread owns the producing end of one ring towards the collector (and the
//! consuming end of one ring of recycled buffers coming back). A push or pop is a plain load and
//! a release store: no read-modify-write, no lock.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

#[repr(align(64))]
struct Padded(AtomicUsize);

pub(crate) struct Ring<T> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
    /// Next slot to read; written only by the consumer.
    head: Padded,
    /// Next slot to write; written only by the producer.
    tail: Padded,
}

// SAFETY: a value moves from the producer to the consumer through the release store of `tail`
// and the acquire load that observes it; slots are never accessed by both sides at once.
unsafe impl<T: Send> Send for Ring<T> {}
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring holding up to `capacity` values, rounded up to a power of two.
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(2).next_power_of_two();
        let slots = (0..capacity)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect();
        Ring {
            slots,
            mask: capacity - 1,
            head: Padded(AtomicUsize::new(0)),
            tail: Padded(AtomicUsize::new(0)),
        }
    }

    /// Whether a push would fail. Producer side only.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        let tail = self.tail.0.load(Ordering::Relaxed);
        let head = self.head.0.load(Ordering::Acquire);
        tail.wrapping_sub(head) > self.mask
    }

    /// Pushes a value, or gives it back when the ring is full.
    ///
    /// # Safety
    ///
    /// Only one thread at a time may act as the producer.
    #[inline]
    pub(crate) unsafe fn push(&self, value: T) -> Result<(), T> {
        let tail = self.tail.0.load(Ordering::Relaxed);
        let head = self.head.0.load(Ordering::Acquire);
        if tail.wrapping_sub(head) > self.mask {
            return Err(value);
        }
        // SAFETY: the slot at `tail` is not visible to the consumer until the store below, and
        // the producer is unique by this function's contract.
        unsafe { (*self.slots[tail & self.mask].get()).write(value) };
        self.tail.0.store(tail.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Pops the oldest value.
    ///
    /// # Safety
    ///
    /// Only one thread at a time may act as the consumer.
    #[inline]
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        let head = self.head.0.load(Ordering::Relaxed);
        let tail = self.tail.0.load(Ordering::Acquire);
        if head == tail {
            return None;
        }
        // SAFETY: the acquire load of `tail` made the producer's write of this slot visible, and
        // the producer will not reuse it before the store below.
        let value = unsafe { (*self.slots[head & self.mask].get()).assume_init_read() };
        self.head.0.store(head.wrapping_add(1), Ordering::Release);
        Some(value)
    }

    /// The number of values waiting.
    pub(crate) fn len(&self) -> usize {
        let tail = self.tail.0.load(Ordering::Acquire);
        let head = self.head.0.load(Ordering::Acquire);
        tail.wrapping_sub(head)
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self` means no producer or consumer is active any more.
        while unsafe { self.pop() }.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn fills_up_and_drains_in_order() {
        let ring = Ring::new(4);
        unsafe {
            for i in 0..4 {
                ring.push(i).unwrap();
            }
            assert!(ring.is_full());
            assert_eq!(ring.push(9), Err(9));
            assert_eq!(ring.len(), 4);
            for i in 0..4 {
                assert_eq!(ring.pop(), Some(i));
            }
            assert_eq!(ring.pop(), None);
        }
    }

    #[test]
    fn moves_every_value_between_threads() {
        let ring = Arc::new(Ring::new(64));
        let producer = {
            let ring = ring.clone();
            std::thread::spawn(move || {
                for i in 0..100_000u64 {
                    let mut v = Box::new(i);
                    loop {
                        match unsafe { ring.push(v) } {
                            Ok(()) => break,
                            Err(back) => {
                                v = back;
                                std::thread::yield_now();
                            }
                        }
                    }
                }
            })
        };
        let mut expected = 0u64;
        while expected < 100_000 {
            if let Some(v) = unsafe { ring.pop() } {
                assert_eq!(*v, expected);
                expected += 1;
            } else {
                std::thread::yield_now();
            }
        }
        producer.join().unwrap();
    }

    #[test]
    fn dropping_a_ring_drops_its_values() {
        let value = Arc::new(());
        let ring = Ring::new(4);
        unsafe {
            ring.push(value.clone()).unwrap();
            ring.push(value.clone()).unwrap();
        }
        drop(ring);
        assert_eq!(Arc::strong_count(&value), 1);
    }
}
