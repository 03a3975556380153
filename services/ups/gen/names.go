package gen

// nameSet holds common given names and surnames of one culture. Countries
// draw mostly from their own set and sometimes from any (see pickNames),
// so every country's profiles are a mix.
type nameSet struct {
	female, male, last []string
}

// nameSets are indexed by the locale constants below.
var nameSets = [...]nameSet{
	locUS: {
		female: []string{"Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
			"Emily", "Ashley", "Madison", "Olivia", "Emma", "Sophia", "Ava", "Isabella", "Mia", "Abigail",
			"Chloe", "Grace", "Hannah", "Samantha", "Lauren", "Megan", "Rachel", "Nicole", "Brianna", "Jasmine",
			"Aaliyah", "Destiny", "Maria", "Guadalupe", "Ximena", "Camila", "Valentina", "Mei", "Priya", "Aisha",
			"Keisha", "Tamika", "Latoya", "Nia", "Yesenia", "Kimberly", "Stephanie", "Michelle", "Amanda", "Melissa"},
		male: []string{"James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas", "Christopher",
			"Charles", "Daniel", "Matthew", "Anthony", "Mark", "Steven", "Andrew", "Joshua", "Kevin", "Brian",
			"Ryan", "Jacob", "Tyler", "Ethan", "Noah", "Liam", "Mason", "Logan", "Jayden", "Elijah",
			"José", "Luis", "Carlos", "Juan", "Miguel", "Diego", "Alejandro", "DeShawn", "Jamal", "Malik",
			"Tyrone", "Darnell", "Wei", "Hiroshi", "Raj", "Arjun", "Omar", "Mohammed", "Dmitri", "Kwame"},
		last: []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
			"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
			"Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
			"Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
			"Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
			"Kim", "Patel", "Chen", "Wang", "Singh", "Cohen", "O'Brien", "Murphy", "Washington", "Kowalski",
			"Tran", "Shah", "Okafor", "Yamamoto", "Russo"},
	},
	locGB: {
		female: []string{"Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophie", "Grace", "Lily", "Freya", "Charlotte",
			"Jessica", "Poppy", "Evie", "Ella", "Chloe", "Holly", "Lucy", "Eleanor", "Harriet", "Imogen",
			"Niamh", "Siobhan", "Aisha", "Priya", "Fatima", "Zara", "Rebecca", "Hannah", "Sarah", "Catherine"},
		male: []string{"Oliver", "George", "Harry", "Jack", "Jacob", "Charlie", "Thomas", "Oscar", "William", "James",
			"Alfie", "Henry", "Archie", "Leo", "Joshua", "Freddie", "Callum", "Rhys", "Dylan", "Owen",
			"Connor", "Liam", "Hamish", "Euan", "Mohammed", "Arjun", "Rohan", "Daniel", "Samuel", "Benjamin"},
		last: []string{"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
			"Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke",
			"Patel", "Khan", "Hughes", "Edwards", "Lewis", "Morgan", "Campbell", "MacDonald", "Stewart", "Murray",
			"O'Neill", "Kelly", "Begum", "Ali", "Cooper", "Turner", "Hill", "Ward", "Morris", "Moore"},
	},
	locFR: {
		female: []string{"Marie", "Camille", "Léa", "Manon", "Chloé", "Emma", "Inès", "Jade", "Louise", "Alice",
			"Juliette", "Sarah", "Clara", "Zoé", "Lucie", "Anaïs", "Mathilde", "Élodie", "Céline", "Nathalie",
			"Isabelle", "Sophie", "Aurélie", "Margaux", "Amina", "Yasmine", "Océane", "Pauline"},
		male: []string{"Jean", "Pierre", "Louis", "Lucas", "Hugo", "Gabriel", "Arthur", "Jules", "Nathan", "Théo",
			"Thomas", "Nicolas", "Julien", "Antoine", "Mathieu", "Maxime", "Alexandre", "Baptiste", "Clément", "Romain",
			"François", "Philippe", "Laurent", "Karim", "Mehdi", "Yanis", "Enzo", "Raphaël"},
		last: []string{"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
			"Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
			"Morel", "Girard", "André", "Lefèvre", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez",
			"Benali", "Nguyen", "Rousseau", "Faure", "Blanc", "Guérin", "Chevalier", "Gauthier"},
	},
	locDE: {
		female: []string{"Sophie", "Marie", "Emma", "Mia", "Hannah", "Emilia", "Lena", "Anna", "Lea", "Leonie",
			"Lara", "Laura", "Julia", "Sarah", "Lisa", "Katharina", "Sabine", "Petra", "Claudia", "Susanne",
			"Monika", "Andrea", "Stefanie", "Jana", "Ayşe", "Elif", "Greta", "Charlotte"},
		male: []string{"Maximilian", "Alexander", "Paul", "Leon", "Lukas", "Felix", "Jonas", "Noah", "Elias", "Ben",
			"Finn", "Tim", "Jan", "Niklas", "Florian", "Tobias", "Stefan", "Thomas", "Michael", "Andreas",
			"Markus", "Jürgen", "Uwe", "Klaus", "Wolfgang", "Mehmet", "Emre", "Henrik"},
		last: []string{"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
			"Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
			"Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann",
			"Yılmaz", "Kaya", "Nowak", "Schmid", "Vogel", "Jung"},
	},
	locES: {
		female: []string{"María", "Guadalupe", "Sofía", "Valentina", "Regina", "Camila", "Ximena", "Fernanda", "Daniela", "Mariana",
			"Lucía", "Paula", "Carmen", "Ana", "Laura", "Isabel", "Elena", "Marta", "Alejandra", "Gabriela",
			"Andrea", "Verónica", "Rosa", "Claudia", "Adriana", "Natalia", "Itzel", "Renata"},
		male: []string{"José", "Juan", "Luis", "Carlos", "Jorge", "Miguel", "Alejandro", "Javier", "Francisco", "Antonio",
			"Manuel", "Santiago", "Mateo", "Sebastián", "Diego", "Emiliano", "Leonardo", "Daniel", "Pablo", "Sergio",
			"Fernando", "Ricardo", "Eduardo", "Raúl", "Roberto", "Alberto", "Iker", "Hugo"},
		last: []string{"García", "Hernández", "Martínez", "López", "González", "Rodríguez", "Pérez", "Sánchez", "Ramírez", "Cruz",
			"Flores", "Gómez", "Morales", "Vázquez", "Reyes", "Jiménez", "Torres", "Díaz", "Gutiérrez", "Ruiz",
			"Mendoza", "Aguilar", "Ortiz", "Moreno", "Castillo", "Romero", "Álvarez", "Fernández", "Navarro", "Domínguez",
			"Muñoz", "Ramos", "Gil", "Serrano", "Castro", "Vargas", "Herrera", "Medina"},
	},
	locIT: {
		female: []string{"Giulia", "Sofia", "Aurora", "Alice", "Ginevra", "Emma", "Giorgia", "Beatrice", "Chiara", "Francesca",
			"Martina", "Sara", "Elena", "Valentina", "Federica", "Alessandra", "Silvia", "Paola", "Laura", "Anna",
			"Maria", "Rosa", "Lucia", "Ilaria"},
		male: []string{"Leonardo", "Francesco", "Alessandro", "Lorenzo", "Mattia", "Andrea", "Gabriele", "Riccardo", "Tommaso", "Edoardo",
			"Marco", "Luca", "Giuseppe", "Giovanni", "Antonio", "Matteo", "Davide", "Simone", "Federico", "Stefano",
			"Paolo", "Roberto", "Salvatore", "Vincenzo"},
		last: []string{"Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
			"Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti",
			"Barbieri", "Fontana", "Santoro", "Mariani", "Rinaldi", "Caruso", "Ferrara", "Galli"},
	},
	locNL: {
		female: []string{"Emma", "Julia", "Sophie", "Tess", "Zoë", "Sara", "Anna", "Eva", "Lotte", "Fleur",
			"Sanne", "Anouk", "Lisa", "Femke", "Iris", "Noa", "Mila", "Saar", "Esther", "Marieke",
			"Ingrid", "Fatima"},
		male: []string{"Daan", "Sem", "Lucas", "Levi", "Finn", "Luuk", "Milan", "Bram", "Thijs", "Jesse",
			"Ruben", "Sven", "Lars", "Tim", "Niels", "Jeroen", "Pieter", "Willem", "Kees", "Jan",
			"Mohamed", "Noah"},
		last: []string{"de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit", "Meijer",
			"de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer",
			"de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer", "Yilmaz", "El Amrani"},
	},
}

// Locales index nameSets.
const (
	locUS = iota
	locGB
	locFR
	locDE
	locES
	locIT
	locNL
)
