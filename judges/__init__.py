"""Judges: ASR engines and audio-quality (MOS) judges behind one interface (see SPEC "validate")."""
