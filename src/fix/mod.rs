//! The only code in sshdoctor that writes to disk or changes the user's setup.
//!
//! Every change goes through [`atomic`] (temp file, fsync, rename, mode and owner kept, refused
//! when the file changed since it was read) and is recorded in the [`journal`] for undo.

pub mod atomic;
pub mod journal;
