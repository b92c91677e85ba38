"""The badges service's doors: the API app factory (`app`) with its blueprint (`api`) and
the read side it answers with (`queries`, `cursors`), the consumer (`consumer`), the clock
(`scheduler`) and the index command (`indexes`). They turn input into calls of the
service layer (`handlers`) and build nothing themselves: `bootstrap` wires them."""
