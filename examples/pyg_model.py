"""SheafConv inside your own PyG model: a GCN layer, then two sheaf diffusion layers, in torch_geometric's
Sequential, trained on one split of Texas (shipped with the project).

    python examples/pyg_model.py

``SheafConv(in_channels, out_channels, d=..., maps=...)`` follows ``conv(x, edge_index, edge_weight=None)`` like any
PyG layer; pass a :class:`sheafgraph.ops.GraphStructure` instead of ``edge_index`` to validate the graph once.
"""
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv, Sequential

from sheafgraph.data import load_node_dataset
from sheafgraph.metrics.classification import accuracy
from sheafgraph.ops import GraphStructure
from sheafgraph.sheaf import SheafConv

torch.manual_seed(0)
torch.set_num_threads(1)
data = load_node_dataset("texas")
graph = GraphStructure(data.edge_index, data.num_nodes)          # validated once, reused every epoch
train, val, test = data.train_mask[:, 0], data.val_mask[:, 0], data.test_mask[:, 0]

model = Sequential("x, edge_index, graph", [
    (torch.nn.Dropout(0.5), "x -> x"),
    (GCNConv(data.num_features, 48), "x, edge_index -> x"),       # PyG's GCN takes the raw edge_index
    (torch.nn.ELU(), "x -> x"),
    (SheafConv(48, 48, d=3, maps="orthogonal", dropout=0.5), "x, graph -> x"),
    (SheafConv(48, data.num_classes, d=3, maps="diag", channels=16), "x, graph -> x"),
])
print(model)


def forward():
    return model(data.x, data.edge_index, graph)


optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-3)
best_val, best_state = 0.0, None
for epoch in range(100):
    model.train()
    optimizer.zero_grad()
    F.cross_entropy(forward()[train], data.y[train]).backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        val_acc = accuracy(forward()[val], data.y[val])
    if val_acc >= best_val:                                       # the model is chosen on validation only
        best_val, best_state = val_acc, {k: v.clone() for k, v in model.state_dict().items()}
model.load_state_dict(best_state)
with torch.no_grad():
    print(f"validation accuracy {best_val:.3f}, test accuracy {accuracy(forward()[test], data.y[test]):.3f}")
