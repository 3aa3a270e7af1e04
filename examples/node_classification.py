"""Neural Sheaf Diffusion on Texas, as library calls: train an O(d)-bundle NSD on one split and look at the
Dirichlet energy of each layer's output with respect to the sheaf that layer learned.

    python examples/node_classification.py

(The benchmark protocol, 10 splits with early stopping, is ``sheafgraph nodecls --dataset texas --preset paper``.)
"""
import torch
import torch.nn.functional as F

from sheafgraph.data import load_node_dataset
from sheafgraph.metrics.classification import accuracy
from sheafgraph.metrics.homophily import edge_homophily
from sheafgraph.ops import GraphStructure
from sheafgraph.sheaf import NSD, dirichlet_energy

torch.manual_seed(0)
torch.set_num_threads(1)
data = load_node_dataset("texas")                                # ships with the project (datasets/)
graph = GraphStructure(data.edge_index, data.num_nodes)          # validated once, shared by every layer and epoch
train, val, test = data.train_mask[:, 0], data.val_mask[:, 0], data.test_mask[:, 0]
print(f"Texas: {data.num_nodes} nodes, edge homophily {edge_homophily(data.edge_index, data.y):.2f}")

model = NSD(data.num_features, data.num_classes, hidden_channels=20, d=3, num_layers=2, maps="orthogonal",
            edge_weights=True, dropout=0.5)
optimizer = torch.optim.Adam(model.parameters(), lr=0.02, weight_decay=5e-3)
best_val, best_state = 0.0, None
for epoch in range(100):
    model.train()
    optimizer.zero_grad()
    F.cross_entropy(model(data.x, graph)[train], data.y[train]).backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        val_acc = accuracy(model(data.x, graph)[val], data.y[val])
    if val_acc >= best_val:
        best_val, best_state = val_acc, {k: v.clone() for k, v in model.state_dict().items()}

model.load_state_dict(best_state)
with torch.no_grad():
    print(f"test accuracy {accuracy(model(data.x, graph)[test], data.y[test]):.3f} (best validation {best_val:.3f})")
    h = model.embed(data.x)                                      # (|V|, d, C) stalks
    for k, conv in enumerate(model.convs):
        laplacian = conv.laplacian(h, graph)                     # the sheaf this layer learned from its input
        h = conv(h, graph)
        print(f"layer {k}: normalised Dirichlet energy {dirichlet_energy(h, laplacian, normalized=True):.3f}")
