//! Federation with the other operators of the health-messaging trust space: which operator
//! may send and receive for which domain ([`trust`]).

pub mod trust;
