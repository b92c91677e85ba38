"""A survey answer cannot be read back by re-posting guesses, eNPS counts one answer per
employee per survey, and no eNPS group is isolable by subtracting others."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

SURVEY = "s-enps"  # in the catalogue of every test's database, questions `enps` and `q1`


def _answer(employee: str, value: int, question: str = "enps", event_id: str | None = None):
    return {
        "id": event_id or f"sa-{uuid.uuid4().hex}",
        "type": "survey.answered",
        "occurred_at": datetime.now(UTC).isoformat(),
        "employee_id": employee,
        "source": "survey-tool",
        "data": {"survey_id": SURVEY, "question_id": question, "kind": "enps", "value": value},
    }


def test_reposting_an_answer_with_guessed_values_tells_nothing(client, new_employee) -> None:
    answer = _answer(new_employee(), 3)
    assert client.post("/v1/events", json=answer).status_code == 201
    replies = []
    for guess in range(11):
        guessed = {**answer, "data": {**answer["data"], "value": guess}}
        reply = client.post("/v1/events", json=guessed)
        replies.append((reply.status_code, reply.json))
    assert len({str(reply) for reply in replies}) == 1 and replies[0][0] == 200
    other = {**answer, "data": {**answer["data"], "question_id": "q1"}}
    assert client.post("/v1/events", json=other).status_code == 409  # other content


def test_extra_question_ids_add_no_enps_answers(client, new_employee, publish_outbox) -> None:
    employees = [new_employee() for _ in range(5)]
    for employee in employees:
        client.post("/v1/events", json=_answer(employee, 10, "enps"))
        client.post("/v1/events", json=_answer(employee, 0, "q1"))  # later: the one counted
    publish_outbox()
    report = client.get(f"/v1/surveys/{SURVEY}/enps").json
    assert (report["enough_answers"], report["n"], report["enps"]) == (True, 5, -100.0)


def test_a_site_one_person_larger_than_a_team_is_withdrawn_and_the_teams_shown(
    client, new_employee, publish_outbox
) -> None:
    growth = [new_employee(team="growth", site="paris") for _ in range(5)]
    sales = [new_employee(team="sales", site="paris")]
    sales += [new_employee(team="sales", site="lyon") for _ in range(4)]
    for employee in growth:
        client.post("/v1/events", json=_answer(employee, 10))
    for employee in sales:
        client.post("/v1/events", json=_answer(employee, 0))
    publish_outbox()

    def enps(query: str) -> dict:
        return client.get(f"/v1/surveys/{SURVEY}/enps?{query}").json

    # paris - growth would be the one salesperson in paris: paris (the cheaper of the
    # two) is withdrawn, and the teams are shown.
    paris = enps("site=paris")
    assert paris["enough_answers"] is False and "n" not in paris
    for team, score in (("growth", 100.0), ("sales", -100.0)):
        shown = enps(f"team={team}")
        assert (shown["enough_answers"], shown["n"], shown["enps"]) == (True, 5, score)
