//! Federation with the other operators of the health-messaging trust space: which operator
//! may send and receive for which domain ([`trust`]), and the relay port's answers about a
//! peer that relays mail to this operator ([`inbound`]), and the queue that delivers
//! practices' mail to peers ([`outbound`]).

pub mod inbound;
pub mod outbound;
pub mod trust;
