//! What kind of command a request is, in one vocabulary for every
//! protocol: the latency histograms of `/metrics` are kept per kind.

use super::binary::{self, op};
use super::{meta, text};

/// A command kind; its number indexes the per-kind counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum CommandKind {
    Get,
    Gets,
    Gat,
    Gats,
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas,
    Delete,
    Incr,
    Decr,
    Touch,
    FlushAll,
    MetaGet,
    MetaSet,
    MetaDelete,
    MetaArithmetic,
    MetaNoop,
    Other,
}

impl CommandKind {
    /// Every kind, in number order.
    pub const ALL: [CommandKind; 21] = [
        CommandKind::Get,
        CommandKind::Gets,
        CommandKind::Gat,
        CommandKind::Gats,
        CommandKind::Set,
        CommandKind::Add,
        CommandKind::Replace,
        CommandKind::Append,
        CommandKind::Prepend,
        CommandKind::Cas,
        CommandKind::Delete,
        CommandKind::Incr,
        CommandKind::Decr,
        CommandKind::Touch,
        CommandKind::FlushAll,
        CommandKind::MetaGet,
        CommandKind::MetaSet,
        CommandKind::MetaDelete,
        CommandKind::MetaArithmetic,
        CommandKind::MetaNoop,
        CommandKind::Other,
    ];

    /// The command's name, as a metric label.
    pub fn name(self) -> &'static str {
        match self {
            CommandKind::Get => "get",
            CommandKind::Gets => "gets",
            CommandKind::Gat => "gat",
            CommandKind::Gats => "gats",
            CommandKind::Set => "set",
            CommandKind::Add => "add",
            CommandKind::Replace => "replace",
            CommandKind::Append => "append",
            CommandKind::Prepend => "prepend",
            CommandKind::Cas => "cas",
            CommandKind::Delete => "delete",
            CommandKind::Incr => "incr",
            CommandKind::Decr => "decr",
            CommandKind::Touch => "touch",
            CommandKind::FlushAll => "flush_all",
            CommandKind::MetaGet => "mg",
            CommandKind::MetaSet => "ms",
            CommandKind::MetaDelete => "md",
            CommandKind::MetaArithmetic => "ma",
            CommandKind::MetaNoop => "mn",
            CommandKind::Other => "other",
        }
    }

    /// The kind of a text (or meta) request.
    pub fn of_text(req: &text::Request) -> CommandKind {
        use text::{Request as R, StoreCommand as S};
        use CommandKind as K;
        match req {
            R::Get { cas: false, .. } => K::Get,
            R::Get { cas: true, .. } => K::Gets,
            R::Gat { cas: false, .. } => K::Gat,
            R::Gat { cas: true, .. } => K::Gats,
            R::Store { command, .. } => match command {
                S::Set => K::Set,
                S::Add => K::Add,
                S::Replace => K::Replace,
                S::Append => K::Append,
                S::Prepend => K::Prepend,
                S::Cas => K::Cas,
            },
            R::Delete { .. } => K::Delete,
            R::Arithmetic { incr: true, .. } => K::Incr,
            R::Arithmetic { incr: false, .. } => K::Decr,
            R::Touch { .. } => K::Touch,
            R::FlushAll { .. } => K::FlushAll,
            R::Meta(m) => match m.command {
                meta::Command::Get => K::MetaGet,
                meta::Command::Set => K::MetaSet,
                meta::Command::Delete => K::MetaDelete,
                meta::Command::Arithmetic => K::MetaArithmetic,
                meta::Command::Noop => K::MetaNoop,
                meta::Command::Debug => K::Other,
            },
            _ => K::Other,
        }
    }

    /// The kind of a binary request.
    pub fn of_binary(req: &binary::Request) -> CommandKind {
        use CommandKind as K;
        match req.opcode {
            op::GET | op::GETQ | op::GETK | op::GETKQ => K::Get,
            op::GAT | op::GATQ | op::GATK | op::GATKQ => K::Gat,
            op::SET | op::SETQ => K::Set,
            op::ADD | op::ADDQ => K::Add,
            op::REPLACE | op::REPLACEQ => K::Replace,
            op::APPEND | op::APPENDQ => K::Append,
            op::PREPEND | op::PREPENDQ => K::Prepend,
            op::DELETE | op::DELETEQ => K::Delete,
            op::INCREMENT | op::INCREMENTQ => K::Incr,
            op::DECREMENT | op::DECREMENTQ => K::Decr,
            op::TOUCH => K::Touch,
            op::FLUSH | op::FLUSHQ => K::FlushAll,
            _ => K::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_number_order() {
        for (i, k) in CommandKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i, "{k:?}");
        }
    }
}
