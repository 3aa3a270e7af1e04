"""torch.compile: the discrete NSD models and SheafConv trace as one graph with a prebuilt structure (after one eager
call has built its caches), and the compiled forward and backward equal eager mode."""
import pytest
import torch
import torch._dynamo as dynamo

from sheafgraph.ops import GraphStructure
from sheafgraph.sheaf import SheafConv, build_nsd
from sheafgraph.utils import seed_everything
from tests.conftest import random_undirected_graph


@pytest.fixture(scope="module")
def graph():
    n = 40
    return GraphStructure(random_undirected_graph(n, 90, seed=3), n)


@pytest.mark.parametrize("maps", ["diag", "orthogonal", "general"])
def test_sheaf_conv_has_no_graph_break(graph, maps):
    conv = SheafConv(10, 16, 3, maps, extra_stalks=("signless",)).eval()      # D = 4 stalks of 4 channels
    x = torch.randn(graph.num_nodes, 10)
    conv(x, graph)                                       # builds the structure's caches (patterns, fixed stalks)
    dynamo.reset()
    assert dynamo.explain(conv)(x, graph).graph_break_count == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["diag", "bundle", "general"])
def test_compiled_nsd_matches_eager_forward_and_backward(graph, name):
    seed_everything(0)
    model = build_nsd(name, 6, 3, hidden_channels=4, d=2, num_layers=2, extra_stalks=("signless",)).double().eval()
    x = torch.randn(graph.num_nodes, 6, dtype=torch.float64)
    model(x, graph)
    dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")       # fullgraph: a break is an error
    outputs, grads = [], []
    for fn in (model, compiled):
        model.zero_grad()
        out = fn(x, graph)
        out.square().sum().backward()
        outputs.append(out.detach())
        grads.append([p.grad.clone() for p in model.parameters()])
    torch.testing.assert_close(outputs[1], outputs[0])
    for compiled_grad, eager_grad in zip(grads[1], grads[0]):
        torch.testing.assert_close(compiled_grad, eager_grad)
