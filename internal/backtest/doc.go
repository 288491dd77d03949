// Package backtest answers "how often would this trigger have fired, and
// for whom?": it replays an OU's stored events, from the start of the
// events stream's retention, through the real evaluator, as if the trigger
// had existed with the given definition all along, and counts the firings
// whose events happened in a window. It sends nothing and changes no
// state: the lead states it builds live in the call's memory, and it reads
// the stream with an ordered consumer, which leaves nothing behind.
package backtest
