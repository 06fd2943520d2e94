"""The trading dashboard window (issue 7): chart, ticker, tape, signals, status, errors."""
