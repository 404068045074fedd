"""The terminal's face pipeline: detection and encoding, 1:N identification, enrolment with
consent, liveness, and encrypted template storage. Images never leave this package's memory;
only 128-d templates are stored, encrypted."""
