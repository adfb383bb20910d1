//! Simulated OpenStage / OpenScape Desk Phone IP phones.
//!
//! Written from the *Provisioning Service, Developer's Guide* and the team's protocol notes only,
//! never from opendls' internals, so it can test any WPI provisioning service (the Unify DLS
//! included). A phone speaks real TLS and HTTP/1.1 with `Connection: close` on every request.
//!
//! * [`phone`]: one phone's state and how it answers each action (pure).
//! * [`items`]: a realistic item set built from the catalog.
//! * [`transport`]: the phone side of HTTPS.
//! * [`interaction`]: one interaction against a server, as a phone runs it.
//! * [`fleet`]: a fleet booting at once, and its report.
//! * [`live`]: a phone that lives on: contact-me listener, DCMP polling, local changes, reboots.
//! * [`hostile`]: not a phone: slow clients that hold connections, for testing defences.

mod contact_me;
pub mod fleet;
pub mod hostile;
pub mod interaction;
pub mod items;
pub mod live;
pub mod phone;
pub mod transport;

pub use phone::{Next, PhoneProfile, PinOutcome, SimPhone};
