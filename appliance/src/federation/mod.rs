//! Federation with the other operators of the health-messaging trust space: which operator
//! may send and receive for which domain ([`trust`]), and the relay port's answers about a
//! peer that relays mail to this operator ([`inbound`]).

pub mod inbound;
pub mod trust;
