"""Pure codecs: bytes in, numpy arrays out (and back). Nothing here imports Datumaro, so each can be
used, tested and fuzzed alone; the format modules turn their errors into Datumaro's."""
