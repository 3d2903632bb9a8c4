from fastapi.testclient import TestClient


def test_node_reports_its_city_and_database(client: TestClient, node) -> None:
    response = client.get("/api/v1/node")
    assert response.status_code == 200
    body = response.json()
    assert body["city_code"] == "370200"
    assert body["database"] == node.engine.dialect.name


def test_unknown_path_answers_problem_json(client: TestClient) -> None:
    response = client.get("/api/v1/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
