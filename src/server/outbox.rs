//! What a step decided to send and which timers to set, in order.
//!
//! Handlers write here, never to stateright's `Out` directly: an [`Outbox`] has no `save`.
//! The step that ran them saves once, first, if the durable state changed, and only then
//! hands these commands to the runtime (see `ServerActor::step`). So no handler can save
//! twice, or send before the save its message depends on.

use super::ServerActor;
use crate::msg::{Msg, Timer};
use stateright::actor::{Id, Out};
use std::ops::Range;
use std::time::Duration;

/// Sends and timer commands of one step.
#[derive(Default)]
pub struct Outbox(Out<ServerActor>);

impl Outbox {
    /// Sends `msg` to `dst`.
    pub fn send(&mut self, dst: Id, msg: impl Into<Msg>) {
        self.0.send(dst, msg.into());
    }

    /// Sends `msg` to each of `dsts`.
    pub fn broadcast<'a>(&mut self, dsts: impl IntoIterator<Item = &'a Id>, msg: impl Into<Msg>) {
        self.0.broadcast(dsts, &msg.into());
    }

    /// Arms `timer` (re-arms it if armed).
    pub fn set_timer(&mut self, timer: Timer, duration: Range<Duration>) {
        self.0.set_timer(timer, duration);
    }

    /// Disarms `timer`.
    pub fn cancel_timer(&mut self, timer: Timer) {
        self.0.cancel_timer(timer);
    }

    /// The commands, for the step to hand on after its save.
    pub(super) fn into_out(self) -> Out<ServerActor> {
        self.0
    }
}
