//! Servos: a shared dispatcher with linuxptp's vocabulary and the estimators behind it.
